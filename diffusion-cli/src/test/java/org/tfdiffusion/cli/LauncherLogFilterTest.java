package org.tfdiffusion.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LauncherLogFilterTest {
  @Test
  void writesTheEndMarkAndWaitsForItsOwnFilterOnly() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream err = new PrintStream(bytes, true, UTF_8);

    assertThat(LauncherLogFilter.finish(Map.of(), err)).isFalse();
    // a process that is not a child of this one (a JVM started by the command inherits the name)
    long parent = ProcessHandle.current().parent().orElseThrow().pid();
    assertThat(
            LauncherLogFilter.finish(
                Map.of(LauncherLogFilter.PID_VARIABLE, String.valueOf(parent)), err))
        .isFalse();
    assertThat(bytes.size()).as("nothing written without a filter").isZero();

    Process filter = new ProcessBuilder("sleep", "0.3").start();
    assertThat(
            LauncherLogFilter.finish(
                Map.of(LauncherLogFilter.PID_VARIABLE, String.valueOf(filter.pid())), err))
        .isTrue();
    assertThat(filter.toHandle().isAlive()).isFalse();
    assertThat(bytes.toString(UTF_8)).isEqualTo("\0tfdiffusion: end of output\0");
  }

  @Test
  void everyCommandAcceptsVerbose() {
    picocli.CommandLine cli = Main.commandLine();
    assertThat(cli.getCommandSpec().findOption("--verbose")).isNotNull();
    cli.getSubcommands()
        .forEach(
            (name, sub) -> {
              if (!name.equals("help")) {
                assertThat(sub.getCommandSpec().findOption("--verbose")).as(name).isNotNull();
              }
            });
    assertThat(cli.parseArgs("summary", "--verbose").subcommand().hasMatchedOption("--verbose"))
        .isTrue();
  }
}
