package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The evaluation commands are registered in the launcher and answer --help. */
class EvalCommandsTest {
  @Test
  void evalAndTrainClassifierAreLauncherCommands() {
    for (String command : new String[] {"eval", "train-classifier"}) {
      StringWriter out = new StringWriter();
      CommandLine cli = Main.commandLine();
      cli.setOut(new PrintWriter(out, true));
      assertThat(cli.execute(command, "--help")).as(command).isZero();
      assertThat(out.toString()).as(command).contains("Usage: tfdiffusion " + command);
    }
  }

  @Test
  void evalRefusesAMissingRunWithExitStatus2() {
    StringWriter err = new StringWriter();
    CommandLine cli = Main.commandLine();
    cli.setErr(new PrintWriter(err, true));
    assertThat(cli.execute("eval", "--run", "no-such-run")).isEqualTo(2);
    assertThat(err.toString()).contains("no-such-run does not exist");
  }
}
