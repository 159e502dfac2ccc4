package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
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
    oneLine(
        run("sample", "--run", "runs/nowhere", "--weights", "best"),
        "'--weights'",
        "unknown weights 'best'; valid: ema, raw",
        "sample --help");
    oneLine(
        run("finetune", "--from", "runs/nowhere", "--from-weights", "latest"),
        "'--from-weights'",
        "unknown weights 'latest'; valid: ema, raw",
        "finetune --help");
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
    oneLine(
        run("serve", "--header-timeout", "0"),
        "--header-timeout 0 is out of range: give a finite number in (0, 86400]");
    oneLine(run("serve", "--idle-timeout", "NaN"), "--idle-timeout NaN is out of range");
  }

  /** Damaged run files and data given to any command: one line naming the file, no trace. */
  @Test
  void damagedRunFilesAndDataAreOneLineInEveryCommand(@TempDir Path dir) throws Exception {
    Path checkpoint = Files.createDirectories(dir.resolve("run/checkpoints/ckpt-000004"));
    Files.writeString(dir.resolve("run/config.json"), "{ \"format\" : 1,\n  \"model\" : {\n");
    String state =
        "{\"step\":4,\"epoch\":0,\"cursor\":8,\"seed\":0,\"loss\":0.5,\"datasetSize\":9,"
            + "\"dataset\":\"x\"}";
    Files.writeString(checkpoint.resolve("state.json"), state);
    String run = dir.resolve("run").toString();
    oneLine(run("sample", "--run", run), "config.json");
    oneLine(run("export", "--run", run, "--base", dir.resolve("models").toString()), "config.json");
    oneLine(run("eval", "--run", run, "--data", "embedded"), "config.json");
    oneLine(run("train", "--resume", "--run-dir", run), "config.json");
    oneLine(run("finetune", "--from", run), "config.json");

    Files.writeString(checkpoint.resolve("state.json"), "{\"step\": 4");
    oneLine(run("sample", "--run", run), "holds no intact checkpoint", "state.json");
    oneLine(run("sample", "--checkpoint", checkpoint.toString()), "state.json");
    oneLine(run("finetune", "--from", checkpoint.toString()), "state.json");

    Path idx = Files.createDirectories(dir.resolve("idx"));
    Files.write(idx.resolve("train-images-idx3-ubyte"), new byte[] {0, 0, 8, 3, 0, 0, 0, 9});
    Files.write(idx.resolve("train-labels-idx1-ubyte"), new byte[] {0, 0, 8, 1, 127, 0, 0, 0});
    oneLine(
        run("train", "--data", idx.toString(), "--run-dir", dir.resolve("r").toString()),
        "train-images-idx3-ubyte");
    assertThat(dir.resolve("r")).doesNotExist();
  }
}
