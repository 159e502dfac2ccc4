package org.tfdiffusion.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/**
 * The model's parameter and FLOP counts against counts written independently from the PyTorch
 * module list of {@code peer/seed_fixed.py} (the tutorial's model with its two channel fixes).
 */
class ModelSummaryTest {

  // --- the peer's layers, counted as PyTorch does ---

  private static long conv(int k, long in, long out) {
    return k * k * in * out + out;
  }

  private static long linear(long in, long out) {
    return in * out + out;
  }

  private static long groupNorm(long c) {
    return 2 * c;
  }

  private static long residualBlock(long in, long out, long timeDim) {
    long skip = in == out ? 0 : conv(1, in, out);
    return groupNorm(in)
        + conv(3, in, out)
        + linear(timeDim, out)
        + groupNorm(out)
        + conv(3, out, out)
        + skip;
  }

  /** UNet.__init__ of seed_fixed.py, term by term. */
  private static long peerParameters(int hidden, int layers, int channels) {
    long total = linear(hidden, hidden * 4L) + linear(hidden * 4L, hidden);
    total += conv(3, channels, hidden);
    total += residualBlock(hidden, hidden, hidden);
    for (int i = 0; i < layers - 1; i++) {
      long in = (long) hidden << i;
      long out = (long) hidden << (i + 1);
      total += residualBlock(in, out, hidden) + conv(3, out, out);
    }
    long bottom = (long) hidden << (layers - 1);
    total += residualBlock(bottom, bottom, hidden);
    for (int i = layers - 2; i >= 0; i--) {
      long wide = (long) hidden << (i + 1);
      total += conv(3, wide, wide) + residualBlock(2 * wide, (long) hidden << i, hidden);
    }
    total += residualBlock(hidden, hidden, hidden);
    total += conv(3, hidden, channels);
    return total;
  }

  /** seed_flops.py: 2 · k² · in · out · H_out · W_out per conv, 2 · in · out per linear. */
  private static double peerGflops(int hidden, int layers, int size, int channels) {
    double flops = 2.0 * hidden * hidden * 4 * 2; // time MLP, two linears
    flops += convFlops(3, channels, hidden, size);
    flops += blockFlops(hidden, hidden, hidden, size);
    int s = size;
    for (int i = 0; i < layers - 1; i++) {
      int in = hidden << i;
      int out = hidden << (i + 1);
      flops += blockFlops(in, out, hidden, s);
      s /= 2;
      flops += convFlops(3, out, out, s);
    }
    int bottom = hidden << (layers - 1);
    flops += blockFlops(bottom, bottom, hidden, s);
    for (int i = layers - 2; i >= 0; i--) {
      int wide = hidden << (i + 1);
      s *= 2;
      flops += convFlops(3, wide, wide, s) + blockFlops(2 * wide, hidden << i, hidden, s);
    }
    flops += blockFlops(hidden, hidden, hidden, s);
    flops += convFlops(3, hidden, channels, s);
    return flops / 1e9;
  }

  private static double convFlops(int k, long in, long out, int size) {
    return 2.0 * k * k * in * out * size * size;
  }

  private static double blockFlops(long in, long out, long timeDim, int size) {
    double skip = in == out ? 0 : convFlops(1, in, out, size);
    return convFlops(3, in, out, size) + 2.0 * timeDim * out + convFlops(3, out, out, size) + skip;
  }

  @Test
  void tutorialDefaultMatchesThePeerModel() {
    ModelSummary summary = new UNet(UNetConfig.tutorial()).summary();
    assertThat(summary.totalParameters()).isEqualTo(peerParameters(128, 4, 3));
    // PyTorch reports 81,047,811 for seed_fixed.py's default model (sum of p.numel()).
    assertThat(summary.totalParameters()).isEqualTo(81_047_811L);
    assertThat(summary.gflopsPerImage()).isCloseTo(peerGflops(128, 4, 32, 3), within(1e-9));
    assertThat(summary.gflopsPerImage()).isCloseTo(16.927, within(5e-4)); // seed_flops.py
  }

  @Test
  void smallConfigMatchesThePeerModel() {
    ModelSummary summary = new UNet(UNetConfig.small()).summary();
    assertThat(summary.totalParameters()).isEqualTo(peerParameters(64, 3, 1));
    assertThat(summary.gflopsPerImage()).isCloseTo(peerGflops(64, 3, 32, 1), within(1e-9));
  }

  @Test
  void rowsAddUpAndNameEveryBlock() {
    ModelSummary summary = new UNet(UNetConfig.small()).summary();
    assertThat(summary.rows())
        .extracting(ModelSummary.Row::block)
        .containsExactly(
            "time_embed",
            "input_conv",
            "input_block",
            "down_0",
            "down_1",
            "mid",
            "up_1",
            "up_0",
            "output_block",
            "output_conv");
    String table = summary.format();
    assertThat(table).contains("total").contains(String.format("%,d", summary.totalParameters()));
  }
}
