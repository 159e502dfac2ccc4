package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.train.FineTuneCommand;
import org.tfdiffusion.cli.train.TrainCommand;
import picocli.CommandLine;

class FloatOptionsTest {
  @TempDir Path temp;

  private final StringWriter err = new StringWriter();

  private int train(String... args) {
    CommandLine cli = TrainCommand.commandLine(new TrainCommand());
    cli.setOut(new PrintWriter(new StringWriter(), true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  /** One line naming the option, the value as typed and the range; nothing started. */
  private void assertRefused(String option, String value, String range, String... more) {
    err.getBuffer().setLength(0);
    String[] args = new String[more.length + 4];
    args[0] = option;
    args[1] = value;
    args[2] = "--run-dir";
    args[3] = temp.resolve("run").toString();
    System.arraycopy(more, 0, args, 4, more.length);
    assertThat(train(args)).as(err.toString()).isEqualTo(CommandLineErrors.USER_ERROR);
    assertThat(err.toString().lines().toList())
        .containsExactly(
            "error: "
                + option
                + " "
                + value
                + " is out of range: give a finite number in "
                + range
                + "; see ./tfdiffusion train --help");
    assertThat(temp.resolve("run")).doesNotExist();
  }

  @Test
  void nonFiniteAndAbsurdValuesAreRefusedBeforeTraining() {
    assertRefused("--lr", "Infinity", "(0, 1]");
    assertRefused("--lr", "NaN", "(0, 1]");
    assertRefused("--lr", "-1e-4", "(0, 1]");
    assertRefused("--lr", "1e39", "(0, 1]");
    assertRefused("--min-lr", "2", "[0, 1]");
    assertRefused("--weight-decay", "-Infinity", "[0, 1]");
    assertRefused("--clip-norm", "1e300", "[0, 1000000]");
    assertRefused("--ema-decay", "1", "[0, 1)");
    assertRefused("--p-uncond", "1", "[0, 1)", "--conditional");
    assertRefused("--guidance", "1e39", "[0, 100]", "--conditional");
    assertRefused("--dropout", "NaN", "[0, 1)");
  }

  @Test
  void rangesSayWhichEndsAreIncluded() {
    assertThat(FloatOptions.Range.aboveUpTo(0, 1)).hasToString("(0, 1]");
    assertThat(FloatOptions.Range.fromBelow(0, 1)).hasToString("[0, 1)");
    assertThat(FloatOptions.Range.closed(0, 2.5)).hasToString("[0, 2.5]");
    assertThat(FloatOptions.Range.closed(0, 1)).hasToString("[0, 1]");
    FloatOptions.Range lr = FloatOptions.RANGES.get("--lr");
    assertThat(lr.contains(1e-4)).isTrue();
    assertThat(lr.contains(1)).isTrue();
    assertThat(lr.contains(0)).isFalse();
    assertThat(lr.contains(Double.POSITIVE_INFINITY)).isFalse();
    assertThat(FloatOptions.Range.closed(0, 1e300).contains(1e39)).as("beyond float32").isFalse();
  }

  @Test
  void everyFloatOptionOfTrainAndFinetuneHasARange() {
    assertThat(FloatOptions.missing(TrainCommand.commandLine(new TrainCommand()))).isEmpty();
    assertThat(FloatOptions.missing(TrainCommand.commandLine(new FineTuneCommand()))).isEmpty();
  }
}
