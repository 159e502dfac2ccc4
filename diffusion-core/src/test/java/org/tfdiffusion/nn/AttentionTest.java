package org.tfdiffusion.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.tfdiffusion.testing.ArrayAsserts.assertClose;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.tensorflow.Graph;
import org.tensorflow.op.Ops;
import org.tfdiffusion.testing.Nhwc;
import org.tfdiffusion.testing.ReferenceNn;
import org.tfdiffusion.testing.SeededWeights;

/**
 * {@link Attention} against plain-Java multi-head self-attention over pixels: GroupNorm, per-pixel
 * q, k, v, softmax(q kᵀ/√d) v per head (head h owns channels [h·d, (h+1)·d)), output projection,
 * residual.
 */
class AttentionTest {
  /**
   * Float32 through a group norm, four 8-term projections and a softmax over at most 9 pixels: a
   * few 1e-7 on O(1) values. 1e-5 relative with a 1e-5 floor holds with margin; a wrong head split,
   * a missing 1/√d or a softmax over the wrong axis errs by O(0.1).
   */
  private static final double REL = 1e-5;

  private static final double ABS = 1e-5;

  private static final int CHANNELS = 8;
  private static final int GROUPS = 4;

  @ParameterizedTest(name = "{0}x{1} pixels, {2} heads")
  @CsvSource({"2, 2, 1", "3, 3, 1", "3, 3, 2", "2, 3, 2", "3, 2, 4"})
  void matchesPlainMultiHeadAttention(int height, int width, int heads) {
    Nhwc x = Nhwc.gaussian(71, 2, height, width, CHANNELS);
    SeededWeights weights = new SeededWeights(72);
    weights.gaussian("attn.norm.weight", 1, 0.3, CHANNELS);
    weights.gaussian("attn.norm.bias", 0, 0.3, CHANNELS);
    // Larger than PyTorch's initial scale so that the attention weights are far from uniform and
    // the head split matters.
    for (String proj : new String[] {"q", "k", "v", "out"}) {
      weights.uniform("attn." + proj + ".weight", 1, CHANNELS, CHANNELS);
      weights.uniform("attn." + proj + ".bias", 0.5, CHANNELS);
    }

    SeededWeights.LayerOutput y =
        weights.runInference(
            scope ->
                Attention.apply(
                    scope.child("attn"), x.constant(scope.tf()), CHANNELS, heads, GROUPS));

    assertThat(y.shape()).isEqualTo(x.shape());
    Nhwc expected = ReferenceNn.attention(x, heads, GROUPS, weights::get, "attn.");
    assertClose("attention", y.values(), expected.data(), REL, ABS);
    assertThat(y.ledger().parameters().keySet())
        .containsExactlyInAnyOrderElementsOf(weights.names());
    long pixels = (long) height * width;
    // Four projections (2·C·C per pixel each) and q kᵀ plus a·v (2·N·N·C each).
    assertThat(y.ledger().flopsPerImage())
        .isEqualTo(4 * 2L * CHANNELS * CHANNELS * pixels + 2 * 2L * pixels * pixels * CHANNELS);
  }

  @Test
  void headsMatter() {
    // Guards the test itself: one and two heads must give different outputs on these weights.
    Nhwc x = Nhwc.gaussian(73, 1, 3, 3, CHANNELS);
    SeededWeights weights = new SeededWeights(74);
    weights.fill("a.norm.weight", 1, CHANNELS);
    weights.fill("a.norm.bias", 0, CHANNELS);
    for (String proj : new String[] {"q", "k", "v", "out"}) {
      weights.uniform("a." + proj + ".weight", 1, CHANNELS, CHANNELS);
      weights.uniform("a." + proj + ".bias", 0.5, CHANNELS);
    }
    double[] one = ReferenceNn.attention(x, 1, GROUPS, weights::get, "a.").data();
    double[] two = ReferenceNn.attention(x, 2, GROUPS, weights::get, "a.").data();
    double largest = 0;
    for (int i = 0; i < one.length; i++) {
      largest = Math.max(largest, Math.abs(one[i] - two[i]));
    }
    assertThat(largest).isGreaterThan(0.01);
  }

  @Test
  void rejectsChannelsThatDoNotSplitIntoHeads() {
    try (Graph g = new Graph()) {
      Ops tf = Ops.create(g);
      NetScope scope = NetScope.inference(tf, new VariableParameters(tf, 1));
      var x = Nhwc.gaussian(75, 1, 2, 2, CHANNELS).constant(tf);

      assertThatThrownBy(() -> Attention.apply(scope.child("mid_attn"), x, CHANNELS, 3, GROUPS))
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("mid_attn")
          .hasMessageContaining("8 channels do not split into 3 heads");
    }
  }
}
