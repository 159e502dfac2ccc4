package org.tfdiffusion.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.train.TrainCommand;
import picocli.CommandLine;

/**
 * Every user error of {@code train}, through the command line: exit status 2 and one line on stderr
 * that names the problem, never a stack trace, and no run folder written.
 */
class CommandLineErrorsTest {
  @TempDir Path temp;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  /** {@code train} of a tiny model with {@code args} added. */
  private int train(String... args) {
    CommandLine cli = TrainCommand.commandLine(new TrainCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> all =
        new ArrayList<>(
            List.of(
                "--steps",
                "1",
                "--base-width",
                "8",
                "--levels",
                "2",
                "--batch-size",
                "4",
                "--no-xla"));
    all.addAll(Arrays.asList(args));
    return cli.execute(all.toArray(String[]::new));
  }

  /** Asserts exit status 2 and one error line holding every {@code expected} part. */
  private void assertOneLineError(int status, String... expected) {
    String text = err.toString();
    assertThat(status).as(text).isEqualTo(CommandLineErrors.USER_ERROR);
    List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
    assertThat(lines).as(text).hasSize(1);
    assertThat(lines.get(0)).startsWith("error: ").contains(expected);
    assertThat(text).doesNotContain("\tat ", "Exception");
    err.getBuffer().setLength(0);
  }

  private static void writeInt(OutputStream out, int... values) throws IOException {
    DataOutputStream data = new DataOutputStream(out);
    for (int v : values) {
      data.writeInt(v);
    }
    data.flush();
  }

  /** An IDX folder whose train files hold the given bytes, gzipped when {@code gzip}. */
  private Path idxFolder(String name, byte[] images, byte[] labels, boolean gzip)
      throws IOException {
    Path folder = temp.resolve(name);
    Files.createDirectories(folder);
    String suffix = gzip ? ".gz" : "";
    write(folder.resolve("train-images-idx3-ubyte" + suffix), images, gzip);
    write(folder.resolve("train-labels-idx1-ubyte" + suffix), labels, gzip);
    return folder;
  }

  private static void write(Path file, byte[] data, boolean gzip) throws IOException {
    try (OutputStream raw = Files.newOutputStream(file);
        OutputStream out = gzip ? new GZIPOutputStream(raw) : raw) {
      out.write(data);
    }
  }

  private static byte[] header(int... values) throws IOException {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    writeInt(bytes, values);
    return bytes.toByteArray();
  }

  private static byte[] images(int count) throws IOException {
    byte[] head = header(0x00000803, count, 28, 28);
    return Arrays.copyOf(head, head.length + count * 28 * 28);
  }

  private static byte[] labels(int... values) throws IOException {
    byte[] head = header(0x00000801, values.length);
    byte[] all = Arrays.copyOf(head, head.length + values.length);
    for (int i = 0; i < values.length; i++) {
      all[head.length + i] = (byte) values[i];
    }
    return all;
  }

  @Test
  void badIdxDataIsOneLineAndWritesNoRun() throws Exception {
    Path run = temp.resolve("run");
    for (boolean gzip : new boolean[] {false, true}) {
      String g = gzip ? "-gz" : "";
      Path eightByteLabels =
          idxFolder("labels8" + g, images(2), header(0x00000801, Integer.MAX_VALUE), gzip);
      assertOneLineError(
          train("--data", eightByteLabels.toString(), "--run-dir", run.toString()),
          "train-labels-idx1-ubyte",
          "truncated");
      Path sixteenByteImages =
          idxFolder("images16" + g, header(0x00000803, 2_700_000, 28, 28), labels(1, 2), gzip);
      assertOneLineError(
          train("--data", sixteenByteImages.toString(), "--run-dir", run.toString()),
          "train-images-idx3-ubyte",
          "truncated");
      Path wrongMagic = idxFolder("magic" + g, labels(1, 2), labels(1, 2), gzip);
      assertOneLineError(
          train("--data", wrongMagic.toString(), "--run-dir", run.toString()),
          "wrong magic number");
      Path mismatch = idxFolder("pair" + g, images(3), labels(1, 2), gzip);
      assertOneLineError(
          train("--data", mismatch.toString(), "--run-dir", run.toString()), "matching pair");
      Path damagedLabel = idxFolder("digits" + g, images(3), labels(1, 200, 2), gzip);
      assertOneLineError(
          train("--data", damagedLabel.toString(), "--run-dir", run.toString(), "--conditional"),
          "label 200",
          "out of range");
    }
    Path cutGzip = temp.resolve("cut-gz");
    Files.createDirectories(cutGzip);
    java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
    try (OutputStream o = new GZIPOutputStream(gz)) {
      o.write(images(2));
    }
    byte[] whole = gz.toByteArray();
    Files.write(
        cutGzip.resolve("train-images-idx3-ubyte.gz"), Arrays.copyOf(whole, whole.length / 2));
    write(cutGzip.resolve("train-labels-idx1-ubyte.gz"), labels(1, 2), true);
    assertOneLineError(
        train("--data", cutGzip.toString(), "--run-dir", run.toString()), "damaged gzip data");
    assertThat(run).doesNotExist();
  }

  @Test
  void badImageFoldersAndPathsAreOneLine() throws Exception {
    Path run = temp.resolve("run");
    Path empty = Files.createDirectories(temp.resolve("no-images"));
    assertOneLineError(
        train("--data", empty.toString(), "--run-dir", run.toString()), "empty dataset");
    Path broken = Files.createDirectories(temp.resolve("broken/cats"));
    Files.write(broken.resolve("a.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
    assertOneLineError(
        train("--data", temp.resolve("broken").toString(), "--run-dir", run.toString()), "a.png");
    assertOneLineError(
        train("--data", temp.resolve("missing").toString(), "--run-dir", run.toString()),
        "no such file or folder");
    Path file = Files.writeString(temp.resolve("notes.txt"), "hello");
    assertOneLineError(
        train("--data", file.toString(), "--run-dir", run.toString()),
        "neither an IDX images file nor a folder");
    assertThat(run).doesNotExist();
  }

  @Test
  void badOptionsAreOneLineWithWhereTheHelpIs() {
    String run = temp.resolve("run").toString();
    assertOneLineError(train("--steps", "abc"), "--steps", "'abc'", "train --help");
    assertOneLineError(train("--stpes", "3"), "--stpes", "train --help");
    assertOneLineError(train("--resume"), "--resume needs the --run-dir");
    assertOneLineError(
        train("--progress", "fancy", "--run-dir", run), "unknown --progress 'fancy'");
    assertOneLineError(train("--fit", "stretch", "--run-dir", run), "unknown fit mode 'stretch'");
    assertOneLineError(
        train("--loss-weighting", "min-snr-x", "--run-dir", run),
        "--loss-weighting",
        "unknown loss weighting 'min-snr-x'; valid: uniform, min-snr (gamma 5), min-snr-GAMMA",
        "train --help");
    assertOneLineError(
        train("--cluster", "worker=localhost:1", "--run-dir", run), "--cluster needs --task");
    assertThat(out.toString()).doesNotContain("Usage:");
    assertThat(temp.resolve("run")).doesNotExist();
  }
}
