package org.tfdiffusion.cli;

import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tfdiffusion.graph.TensorIO;

/** Deterministic test images in [-1, 1]: rings and stripes, different per image and channel. */
final class TestImages {
  private TestImages() {}

  static TFloat32 batch(int batch, int size, int channels) {
    float[] data = new float[batch * size * size * channels];
    int i = 0;
    for (int b = 0; b < batch; b++) {
      for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
          for (int c = 0; c < channels; c++) {
            double u = (x + 0.5) / size - 0.5;
            double v = (y + 0.5) / size - 0.5;
            double ring = Math.cos(Math.hypot(u, v) * (8 + 4 * b) * Math.PI);
            double stripes = Math.sin((u * (c + 1) + v * b) * 6 * Math.PI);
            data[i++] = (float) (0.6 * ring + 0.4 * stripes);
          }
        }
      }
    }
    return TensorIO.floats(Shape.of(batch, size, size, channels), data);
  }
}
