package org.tfdiffusion.cli.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.tfdiffusion.run.TrainConfig;

/** How {@code --ema-decay}, {@code --ema-warmup} and {@code --ema-power} shape a run's EMA. */
class EmaOptionsTest {

  private static TrainConfig.Ema ema(String... args) {
    TrainCommand command = new TrainCommand();
    TrainCommand.commandLine(command).parseArgs(args);
    return command.config().ema();
  }

  @Test
  void thePresetsWarmUpAFixedDecay() {
    assertThat(ema("--preset", "demo")).isEqualTo(new TrainConfig.Ema(0.995, true, 0));
  }

  @Test
  void theWarmUpCanBeTurnedOffAndTheDecayKept() {
    assertThat(ema("--preset", "demo", "--no-ema-warmup"))
        .isEqualTo(new TrainConfig.Ema(0.995, false, 0));
    assertThat(ema("--preset", "demo", "--no-ema-warmup", "--ema-decay", "0.99"))
        .isEqualTo(new TrainConfig.Ema(0.99, false, 0));
  }

  @Test
  void aPowerFunctionReplacesTheFixedDecay() {
    TrainConfig.Ema power = ema("--preset", "demo", "--ema-power", "6.94");
    assertThat(power.isPowerFunction()).isTrue();
    assertThat(power.power()).isEqualTo(6.94);
    assertThat(power.keepsShadows()).isTrue();
  }

  @Test
  void aPowerFunctionRefusesTheFixedDecaysOptions() {
    assertThatThrownBy(() -> ema("--ema-power", "6.94", "--ema-decay", "0.99"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--ema-power replaces the fixed decay");
    assertThatThrownBy(() -> ema("--ema-power", "6.94", "--no-ema-warmup"))
        .hasMessageContaining("without --ema-decay and --ema-warmup");
  }
}
