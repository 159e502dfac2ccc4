package org.tfdiffusion.train.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.model.UNet;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.TrainPreset;

class TrainStepBenchmarkTest {
  @Test
  void timesEachStepAndReadsTheMemoryThatInitialisationAdds() {
    UNetConfig model =
        UNetConfig.builder()
            .imageSize(16)
            .channels(1)
            .baseWidth(64)
            .levels(2)
            .normGroups(8)
            .build();
    long parameters = new UNet(model).summary().totalParameters();
    TrainConfig config = TrainStepBenchmark.config(TrainPreset.TUTORIAL.config(), model, 2, 4);

    TrainStepBenchmark.Timing timing =
        TrainStepBenchmark.run(config, SessionOptions.defaults(), 2, Optional.empty());

    assertThat(timing.seconds()).hasSize(2);
    assertThat(java.util.Arrays.stream(timing.seconds()).min().getAsDouble()).isPositive();
    assertThat(timing.residentAfterSetupMib()).isPositive();
    // Initialisation makes four float32 copies of every weight resident: the weights, the EMA
    // weights and AdamW's two slots (allow a quarter less for pages TensorFlow had already).
    double variablesMib = 4.0 * 4 * parameters / (1 << 20);
    assertThat(timing.residentAfterInitMib() - timing.residentAfterSetupMib())
        .isGreaterThan(0.75 * variablesMib);
    assertThat(TrainStepBenchmark.residentMib("VmHWM"))
        .isGreaterThanOrEqualTo(timing.residentAfterInitMib());
    assertThat(TrainStepBenchmark.residentMib("NoSuchField")).isEqualTo(-1);
  }
}
