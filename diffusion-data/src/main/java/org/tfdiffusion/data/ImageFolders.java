package org.tfdiffusion.data;

import com.google.common.collect.ImmutableList;
import com.google.common.collect.ImmutableSet;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitOption;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Loads a folder of PNG and JPEG images ({@code .png}, {@code .jpg}, {@code .jpeg}, any case),
 * searched recursively; other files and hidden files ({@code .name}) are skipped. Files are read in
 * the order of their sorted relative paths.
 *
 * <p>Labels: when every image sits inside a first-level sub-folder, the sub-folder names, sorted,
 * are the classes (sub-folder {@code classNames.get(k)} holds the images of label k; deeper folders
 * belong to their first-level folder; sub-folders without images are not classes). When every image
 * sits directly in the folder the dataset is unlabelled. Both at once is an error.
 *
 * <p>Channels: an image counts as grayscale when its colour model has one colour component (or a
 * palette of grays), else as RGB; alpha is dropped (the stored colour is kept). Images are read at
 * 8 bits (16-bit samples are rounded down to 8). A folder that mixes grayscale and RGB is an error
 * unless {@link DataOptions#convertMixedChannels()}, which replicates the grayscale ones into RGB.
 *
 * <p>Size: with a {@link DataOptions#fit()} every image is fitted to the model as it is read
 * ({@link FitMode#AUTO} center-crops); without one all images must share one size.
 */
final class ImageFolders {
  /** The file extensions read, lower case. */
  static final ImmutableSet<String> EXTENSIONS = ImmutableSet.of("png", "jpg", "jpeg");

  private ImageFolders() {}

  static ImageDataset load(Path root, DataOptions options) {
    List<Path> files = imageFiles(root);
    if (files.isEmpty()) {
      throw new DataException(
          String.format(
              "%s: empty dataset, no PNG or JPEG images found (searched sub-folders too for"
                  + " %s); put images there, or give a folder with IDX files or 'embedded'",
              root, EXTENSIONS));
    }
    List<Path> atRoot = files.stream().filter(f -> f.getNameCount() == 1).toList();
    List<Path> inFolders = files.stream().filter(f -> f.getNameCount() > 1).toList();
    if (!atRoot.isEmpty() && !inFolders.isEmpty()) {
      throw new DataException(
          String.format(
              "%s: images both directly in the folder (e.g. %s) and in sub-folders (e.g. %s);"
                  + " for a labelled dataset put every image in a sub-folder named after its"
                  + " class, for an unlabelled one put them all directly in the folder",
              root, atRoot.get(0), inFolders.get(0)));
    }
    boolean labelled = atRoot.isEmpty();
    List<String> classNames =
        labelled
            ? files.stream()
                .map(f -> f.getName(0).toString())
                .distinct()
                .sorted()
                .collect(ImmutableList.toImmutableList())
            : List.of();

    Optional<ImageFit> fit = options.fit();
    int[] labels = labelled ? new int[files.size()] : null;
    List<byte[]> images = new ArrayList<>(files.size());
    int[] nativeChannels = new int[files.size()];
    int height = -1;
    int width = -1;
    Path first = root.resolve(files.get(0));
    for (int i = 0; i < files.size(); i++) {
      Path file = root.resolve(files.get(i));
      PixelImage d = decode(file);
      nativeChannels[i] = d.channels();
      if (labelled) {
        labels[i] = classNames.indexOf(files.get(i).getName(0).toString());
      }
      if (fit.isPresent()) {
        ImageFit f = fit.get();
        byte[] out = new byte[f.imageSize() * f.imageSize() * f.channels()];
        f.fitInto(
            d.pixels(),
            0,
            d.height(),
            d.width(),
            d.channels(),
            f.resolve(d.height(), d.width(), true),
            file.toString(),
            out,
            0);
        images.add(out);
      } else {
        if (i == 0) {
          height = d.height();
          width = d.width();
        } else if (d.height() != height || d.width() != width) {
          throw new DataException(
              String.format(
                  "%s is %dx%d but %s is %dx%d: without a model size to fit them to, all images"
                      + " must share one size; give the model's image size (--image-size) or"
                      + " resize the images",
                  file, d.height(), d.width(), first, height, width));
        }
        images.add(d.pixels());
      }
    }
    int channels = checkChannels(root, files, nativeChannels, options.convertMixedChannels());
    if (fit.isPresent()) {
      height = fit.get().imageSize();
      width = height;
      channels = fit.get().channels();
    } else if (channels == 3) {
      for (int i = 0; i < images.size(); i++) {
        if (nativeChannels[i] == 1) {
          images.set(i, toRgb(images.get(i)));
        }
      }
    }
    int perImage = height * width * channels;
    byte[] pixels = new byte[files.size() * perImage];
    for (int i = 0; i < images.size(); i++) {
      System.arraycopy(images.get(i), 0, pixels, i * perImage, perImage);
    }
    String description =
        String.format(
            "image folder %s (%s)%s",
            root.toAbsolutePath().normalize(),
            labelled ? classNames.size() + " classes from sub-folders" : "unlabelled",
            fit.map(f -> ", fitted to " + f.imageSize() + "x" + f.imageSize() + "x" + f.channels())
                .orElse(""));
    return ImageDataset.create(height, width, channels, pixels, labels, classNames, description);
  }

  /**
   * The channel count shared by all images: 1 or 3. Mixed counts fail, naming an image of the rarer
   * kind, unless {@code convert}, which gives 3.
   */
  private static int checkChannels(Path root, List<Path> files, int[] channels, boolean convert) {
    List<Integer> gray = new ArrayList<>();
    List<Integer> rgb = new ArrayList<>();
    for (int i = 0; i < channels.length; i++) {
      (channels[i] == 1 ? gray : rgb).add(i);
    }
    if (gray.isEmpty() || rgb.isEmpty()) {
      return gray.isEmpty() ? 3 : 1;
    }
    if (convert) {
      return 3;
    }
    boolean fewerGray = gray.size() <= rgb.size();
    List<Integer> odd = fewerGray ? gray : rgb;
    List<Integer> usual = fewerGray ? rgb : gray;
    throw new DataException(
        String.format(
            "%s: mixed channel counts: %s is %s but %d other images (e.g. %s) are %s (%d %s"
                + " images in all); convert the odd ones, or ask for conversion"
                + " (--convert-channels / DataOptions.withConvertMixedChannels(true)), which"
                + " replicates grayscale into RGB",
            root,
            root.resolve(files.get(odd.get(0))),
            fewerGray ? "grayscale (1 channel)" : "RGB (3 channels)",
            usual.size(),
            root.resolve(files.get(usual.get(0))),
            fewerGray ? "RGB (3 channels)" : "grayscale (1 channel)",
            odd.size(),
            fewerGray ? "grayscale" : "RGB"));
  }

  private static byte[] toRgb(byte[] gray) {
    byte[] rgb = new byte[gray.length * 3];
    for (int p = 0; p < gray.length; p++) {
      rgb[3 * p] = gray[p];
      rgb[3 * p + 1] = gray[p];
      rgb[3 * p + 2] = gray[p];
    }
    return rgb;
  }

  /** The image files under {@code root}, relative to it, sorted. */
  private static List<Path> imageFiles(Path root) {
    if (!Files.exists(root)) {
      throw new DataException(
          root
              + ": no such folder; give an existing folder of images, a folder with IDX files,"
              + " or 'embedded'");
    }
    try (Stream<Path> walk = Files.walk(root, FileVisitOption.FOLLOW_LINKS)) {
      return walk.filter(Files::isRegularFile)
          .map(root::relativize)
          .filter(ImageFolders::isVisibleImage)
          .sorted()
          .collect(Collectors.toList());
    } catch (IOException | UncheckedIOException e) {
      throw new DataException(
          root + ": cannot list the folder (" + e.getMessage() + "); check permissions and links",
          e);
    }
  }

  private static boolean isVisibleImage(Path relative) {
    for (Path part : relative) {
      if (part.toString().startsWith(".")) {
        return false;
      }
    }
    String name = relative.getFileName().toString();
    int dot = name.lastIndexOf('.');
    return dot > 0 && EXTENSIONS.contains(name.substring(dot + 1).toLowerCase(Locale.ROOT));
  }

  /** Decodes one image to 8-bit gray or RGB. */
  private static PixelImage decode(Path file) {
    BufferedImage image;
    try {
      image = ImageIO.read(file.toFile());
    } catch (IOException | RuntimeException e) {
      throw new DataException(
          String.format(
              "%s: unreadable image (%s); replace or delete the file (PNG and 8-bit RGB or"
                  + " grayscale JPEG are read; CMYK JPEG is not)",
              file, e.getMessage()),
          e);
    }
    if (image == null) {
      throw new DataException(
          String.format(
              "%s: unreadable image: no PNG or JPEG decoder recognises its content; replace or"
                  + " delete the file",
              file));
    }
    return PixelImage.of(image);
  }
}
