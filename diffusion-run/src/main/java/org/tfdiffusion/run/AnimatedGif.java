package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageOutputStream;

/**
 * An animated GIF of equally sized frames that loops forever, written with javax.imageio's GIF
 * writer: each frame carries a graphic control extension (its delay, in hundredths of a second),
 * and the first one Netscape's application extension that asks viewers to loop. Grayscale frames
 * get a palette of the 256 grays, so their pixels are exact; RGB frames are reduced to 256 colours
 * by the writer.
 */
public final class AnimatedGif {
  /** The GIF image metadata format of javax.imageio. */
  private static final String FORMAT = "javax_imageio_gif_image_1.0";

  private AnimatedGif() {}

  /**
   * Writes {@code frames} as an animated GIF, atomically (a temporary file renamed into place).
   *
   * @param delayMillis how long each frame shows, rounded to hundredths of a second (at least 2:
   *     browsers show faster GIFs at 10 frames per second)
   * @throws IllegalArgumentException for no frames or frames of different sizes
   */
  public static void write(List<BufferedImage> frames, int delayMillis, Path file) {
    checkArgument(!frames.isEmpty(), "an animation needs at least one frame");
    int w = frames.get(0).getWidth();
    int h = frames.get(0).getHeight();
    for (BufferedImage f : frames) {
      checkArgument(
          f.getWidth() == w && f.getHeight() == h,
          "frames must share one size: %sx%s and %sx%s",
          w,
          h,
          f.getWidth(),
          f.getHeight());
    }
    int hundredths = Math.max(2, Math.round(delayMillis / 10f));
    Iterator<ImageWriter> writers = ImageIO.getImageWritersByFormatName("gif");
    checkArgument(writers.hasNext(), "this Java runtime has no GIF writer");
    ImageWriter writer = writers.next();
    try {
      java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
      try (ImageOutputStream out = ImageIO.createImageOutputStream(bytes)) {
        writer.setOutput(out);
        writer.prepareWriteSequence(null);
        ImageWriteParam param = writer.getDefaultWriteParam();
        for (int i = 0; i < frames.size(); i++) {
          BufferedImage frame = indexed(frames.get(i));
          IIOMetadata meta =
              writer.getDefaultImageMetadata(
                  ImageTypeSpecifier.createFromRenderedImage(frame), param);
          configure(meta, hundredths, i == 0);
          writer.writeToSequence(new IIOImage(frame, null, meta), param);
        }
        writer.endWriteSequence();
      }
      DurableFiles.replace(file, tmp -> Files.write(tmp, bytes.toByteArray()));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    } finally {
      writer.dispose();
    }
  }

  /** A grayscale frame on a palette of the 256 grays; other frames as they are. */
  private static BufferedImage indexed(BufferedImage frame) {
    if (frame.getType() != BufferedImage.TYPE_BYTE_GRAY) {
      return frame;
    }
    byte[] gray = new byte[256];
    for (int i = 0; i < gray.length; i++) {
      gray[i] = (byte) i;
    }
    IndexColorModel palette = new IndexColorModel(8, 256, gray, gray, gray);
    BufferedImage out =
        new BufferedImage(
            frame.getWidth(), frame.getHeight(), BufferedImage.TYPE_BYTE_INDEXED, palette);
    out.getRaster().setRect(frame.getRaster());
    return out;
  }

  /** The frame's delay, no transparency, and on the first frame the loop-forever extension. */
  private static void configure(IIOMetadata meta, int hundredths, boolean first)
      throws IOException {
    IIOMetadataNode root = (IIOMetadataNode) meta.getAsTree(FORMAT);
    IIOMetadataNode control = child(root, "GraphicControlExtension");
    control.setAttribute("disposalMethod", "none");
    control.setAttribute("userInputFlag", "FALSE");
    control.setAttribute("transparentColorFlag", "FALSE");
    control.setAttribute("delayTime", Integer.toString(hundredths));
    control.setAttribute("transparentColorIndex", "0");
    if (first) {
      IIOMetadataNode extensions = child(root, "ApplicationExtensions");
      IIOMetadataNode netscape = new IIOMetadataNode("ApplicationExtension");
      netscape.setAttribute("applicationID", "NETSCAPE");
      netscape.setAttribute("authenticationCode", "2.0");
      netscape.setUserObject(new byte[] {1, 0, 0}); // sub-block 1: loop count 0 = forever
      extensions.appendChild(netscape);
    }
    meta.setFromTree(FORMAT, root);
  }

  /** The child node named {@code name}, added when missing. */
  private static IIOMetadataNode child(IIOMetadataNode root, String name) {
    for (int i = 0; i < root.getLength(); i++) {
      if (root.item(i).getNodeName().equalsIgnoreCase(name)) {
        return (IIOMetadataNode) root.item(i);
      }
    }
    IIOMetadataNode node = new IIOMetadataNode(name);
    root.appendChild(node);
    return node;
  }
}
