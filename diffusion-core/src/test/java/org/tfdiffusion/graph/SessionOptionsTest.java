package org.tfdiffusion.graph;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.proto.OptimizerOptions;
import org.tensorflow.proto.RewriterConfig;

class SessionOptionsTest {
  @Test
  void trainingAndSamplingCompileWithXlaAndTheDefaultsDoNot() {
    assertThat(SessionOptions.training().xla()).isTrue();
    assertThat(SessionOptions.sampling().xla()).isTrue();
    assertThat(SessionOptions.defaults().xla()).isFalse();
    assertThat(jitLevel(SessionOptions.sampling().toConfigProto()))
        .isEqualTo(OptimizerOptions.GlobalJitLevel.ON_1);
    assertThat(jitLevel(SessionOptions.defaults().toConfigProto()))
        .isEqualTo(OptimizerOptions.GlobalJitLevel.DEFAULT);
  }

  @Test
  void bfloat16TurnsTheDefaultXlaOffButNotAnExplicitOne() {
    SessionOptions base = SessionOptions.defaults();
    // --bf16 alone: oneDNN's rewrite, which XLA's clusters would bypass
    assertThat(base.withFlags(true, false, true)).isEqualTo(base.withBfloat16(true));
    // --bf16 --xla: the user asked for both
    assertThat(base.withFlags(true, true, true)).isEqualTo(base.withXla(true).withBfloat16(true));
    // no --bf16: the XLA flag as given
    assertThat(base.withFlags(true, false, false)).isEqualTo(base.withXla(true));
    assertThat(base.withFlags(false, true, false)).isEqualTo(base);
    assertThat(base.withFlags(false, true, true)).isEqualTo(base.withBfloat16(true));
  }

  @Test
  void bfloat16AndNchwAreGrapplerRewrites() {
    RewriterConfig rewrite =
        SessionOptions.defaults()
            .withBfloat16(true)
            .withNchw(true)
            .toConfigProto()
            .getGraphOptions()
            .getRewriteOptions();
    assertThat(rewrite.getAutoMixedPrecisionMkl()).isEqualTo(RewriterConfig.Toggle.ON);
    assertThat(rewrite.getCpuLayoutConversion()).isEqualTo(RewriterConfig.CpuLayout.NHWC_TO_NCHW);
  }

  @Test
  void threadsAreSetOnlyWhenGiven() {
    ConfigProto set = SessionOptions.defaults().withThreads(2, 1).toConfigProto();
    assertThat(set.getIntraOpParallelismThreads()).isEqualTo(2);
    assertThat(set.getInterOpParallelismThreads()).isEqualTo(1);
    ConfigProto unset = SessionOptions.defaults().toConfigProto();
    // 0 = TensorFlow's own choice (all cores)
    assertThat(unset.getIntraOpParallelismThreads()).isZero();
    assertThat(unset.getInterOpParallelismThreads()).isZero();
  }

  private static OptimizerOptions.GlobalJitLevel jitLevel(ConfigProto config) {
    return config.getGraphOptions().getOptimizerOptions().getGlobalJitLevel();
  }
}
