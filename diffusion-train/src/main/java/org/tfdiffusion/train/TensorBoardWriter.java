package org.tfdiffusion.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.summary.SummaryWriter;
import org.tensorflow.op.summary.WriteImageSummary;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tensorflow.types.TUint8;

/**
 * TensorBoard event files written by TensorFlow's own summary ops ({@code CreateSummaryFileWriter},
 * {@code WriteScalarSummary}, {@code WriteImageSummary}), so that {@code tensorboard --logdir
 * RUN/tensorboard} reads them. Values are fed from Java; the ops live in the training graph.
 */
final class TensorBoardWriter {
  private static final int MAX_QUEUE = 10;
  private static final int FLUSH_MILLIS = 10_000;

  private final Op create;
  private final Op flush;
  private final Op close;
  private final Placeholder<TInt64> step;
  private final Map<String, Placeholder<TFloat32>> scalars = new LinkedHashMap<>();
  private final Op writeScalars;
  private final Placeholder<TUint8> image;
  private final Op writeImage;

  /**
   * @param tags the scalar series, e.g. loss and learning_rate
   * @param imageChannels channels of the images logged under "samples"
   */
  TensorBoardWriter(Ops tf, Path logdir, List<String> tags, int imageChannels) {
    Ops tb = tf.withSubScope("tensorboard");
    SummaryWriter writer = tb.summary.summaryWriter();
    this.create =
        tb.summary.createSummaryFileWriter(
            writer,
            tb.constant(logdir.toAbsolutePath().toString()),
            tb.constant(MAX_QUEUE),
            tb.constant(FLUSH_MILLIS),
            tb.constant(".tfdiffusion.v2"));
    this.flush = tb.summary.flushSummaryWriter(writer);
    this.close = tb.summary.closeSummaryWriter(writer);
    this.step = tb.placeholder(TInt64.class, Placeholder.shape(Shape.scalar()));
    List<Op> writes = new java.util.ArrayList<>();
    for (String tag : tags) {
      Placeholder<TFloat32> value =
          tb.placeholder(TFloat32.class, Placeholder.shape(Shape.scalar()));
      scalars.put(tag, value);
      writes.add(tb.summary.writeScalarSummary(writer, step, tb.constant(tag), value));
    }
    this.writeScalars = tb.withControlDependencies(writes).noOp();
    this.image =
        tb.placeholder(TUint8.class, Placeholder.shape(Shape.of(1, -1, -1, imageChannels)));
    this.writeImage =
        tb.summary.writeImageSummary(
            writer,
            step,
            tb.constant("samples"),
            image,
            tb.constant(new byte[] {(byte) 255, 0, 0, (byte) 255}),
            WriteImageSummary.maxImages(1L));
  }

  /** Opens the event file; run once after the session starts. */
  void open(Session session) {
    session.runner().addTarget(create).run().close();
  }

  /** Writes one point of every scalar series. */
  void scalars(Session session, long stepValue, Map<String, Float> values) {
    Session.Runner runner = session.runner().addTarget(writeScalars);
    List<AutoCloseable> tensors = new java.util.ArrayList<>();
    try (TInt64 s = TInt64.scalarOf(stepValue)) {
      runner.feed(step, s);
      for (Map.Entry<String, Placeholder<TFloat32>> e : scalars.entrySet()) {
        TFloat32 v = TFloat32.scalarOf(values.getOrDefault(e.getKey(), Float.NaN));
        tensors.add(v);
        runner.feed(e.getValue(), v);
      }
      runner.run().close();
    } finally {
      closeAll(tensors);
    }
  }

  /** Writes a grid image [H, W, C] of bytes under "samples". */
  void image(Session session, long stepValue, byte[] pixels, int height, int width, int channels) {
    try (TInt64 s = TInt64.scalarOf(stepValue);
        TUint8 img =
            TUint8.tensorOf(
                Shape.of(1, height, width, channels), DataBuffers.of(pixels, true, false))) {
      session.runner().feed(step, s).feed(image, img).addTarget(writeImage).run().close();
    }
  }

  void flush(Session session) {
    session.runner().addTarget(flush).run().close();
  }

  void close(Session session) {
    session.runner().addTarget(close).run().close();
  }

  private static void closeAll(List<AutoCloseable> tensors) {
    for (AutoCloseable t : tensors) {
      try {
        t.close();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
