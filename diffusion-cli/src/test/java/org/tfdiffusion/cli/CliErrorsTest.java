package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tfdiffusion.train.FloatOptions;
import picocli.CommandLine;

/**
 * Bad input to any command of the launcher: exit status 2 and one line on stderr (the problem and
 * where the help is), never the whole usage text or a stack trace.
 */
class CliErrorsTest {
  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    CommandLine cli = Main.commandLine();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  /** The one line on stderr of a user error (exit status 2), holding every expected part. */
  private String oneLine(int status, String... expected) {
    String text = err.toString();
    assertThat(status).as(text).isEqualTo(2);
    List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
    assertThat(lines).as(text).hasSize(1);
    assertThat(lines.get(0)).startsWith("error: ").contains(expected);
    assertThat(text + out).doesNotContain("Usage:", "\tat ", "Exception");
    return lines.get(0);
  }

  @Test
  void everyCommandAnswersAnUnknownOptionWithOneLine() {
    List<String> commands =
        Main.commandLine().getSubcommands().keySet().stream()
            .filter(c -> !c.equals("help"))
            .toList();
    assertThat(commands).contains("train", "finetune", "sample", "export", "serve", "eval");
    for (String command : commands) {
      // picocli names a missing required option first, else the unknown one
      assertThat(oneLine(run(command, "--no-such-option"), "./tfdiffusion " + command + " --help"))
          .containsAnyOf("--no-such-option", "Missing required");
    }
    oneLine(run("trian"), "trian", "did you mean", "train");
    oneLine(run("sample", "--n", "many"), "--n", "'many'", "sample --help");
    oneLine(run("export"), "--run", "export --help");
  }

  @Test
  void everyFloatOptionOfEveryCommandHasARange() {
    assertThat(FloatOptions.missing(Main.commandLine())).isEmpty();
  }

  @Test
  void nonFiniteAndAbsurdFloatsAreRefusedByEveryCommandBeforeItStarts() {
    oneLine(
        run("sample", "--run", "nowhere", "--guidance", "1e39"),
        "--guidance 1e39 is out of range: give a finite number in [0, 100]");
    oneLine(
        run("sample", "--run", "nowhere", "--eta", "NaN"),
        "--eta NaN is out of range: give a finite number in [0, 1]");
    oneLine(
        run("sample", "--run", "nowhere", "--clip-x0", "Infinity"),
        "--clip-x0 Infinity is out of range");
    oneLine(
        run("export", "--run", "nowhere", "--guidance", "Infinity"),
        "--guidance Infinity is out of range");
    oneLine(run("eval", "--run", "nowhere", "--guidance", "-1"), "--guidance -1 is out of range");
    oneLine(
        run("eval", "--run", "nowhere", "--sweep-guidance", "1,1e39"),
        "--sweep-guidance 1e39 is out of range");
    oneLine(
        run("train", "--lr", "Infinity"),
        "--lr Infinity is out of range: give a finite" + " number in (0, 1]",
        "train --help");
    oneLine(run("finetune", "--from", "nowhere", "--lr", "1e39"), "--lr 1e39 is out of range");
    oneLine(
        run("bench-serve", "--guidance", "1e39"),
        "--guidance 1e39 is out of range",
        "bench-serve --help");
    oneLine(run("serve", "--poll-seconds", "-1"), "--poll-seconds -1 is out of range");
  }
}
