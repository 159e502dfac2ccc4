package org.tfdiffusion.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Keeping XLA's compiled clusters between runs: only whole entries, never over another. */
class XlaCacheTest {
  @TempDir Path temp;

  /** A length-delimited protocol-buffer field, encoded here by hand from the wire format. */
  private static byte[] field(int number, byte[] payload) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeVarint(out, ((long) number << 3) | 2);
    writeVarint(out, payload.length);
    out.writeBytes(payload);
    return out.toByteArray();
  }

  private static void writeVarint(ByteArrayOutputStream out, long value) {
    while ((value & ~0x7fL) != 0) {
      out.write((int) ((value & 0x7f) | 0x80));
      value >>>= 7;
    }
    out.write((int) value);
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  /**
   * An entry shaped as TensorFlow writes one: key, HLO module, executable (300 bytes: 2-byte
   * length).
   */
  private static byte[] entry(byte fill) {
    byte[] executable = new byte[300];
    Arrays.fill(executable, fill);
    return concat(
        field(1, "key: signature, fingerprint, XLA_CPU_JIT".getBytes(UTF_8)),
        field(2, "an HLO module".getBytes(UTF_8)),
        field(3, executable));
  }

  @Test
  void aWholeEntryIsWholeAndEveryCutOfItIsNot() {
    byte[] whole = entry((byte) 7);
    assertThat(XlaCache.isWhole(whole)).isTrue();
    for (int length = 0; length < whole.length; length++) {
      assertThat(XlaCache.isWhole(Arrays.copyOf(whole, length)))
          .as("the first %d of %d bytes", length, whole.length)
          .isFalse();
    }
  }

  @Test
  void anEntryWithoutItsExecutableOrWithForeignBytesIsNotWhole() {
    assertThat(XlaCache.isWhole(concat(field(1, new byte[] {1}), field(2, new byte[] {2}))))
        .isFalse();
    assertThat(XlaCache.isWhole("key: \"text, not binary\"\n".getBytes(UTF_8))).isFalse();
    assertThat(XlaCache.isWhole(concat(entry((byte) 1), new byte[] {(byte) 0x0d, 1, 2, 3, 4})))
        .as("a fixed-width field after the entry")
        .isFalse();
  }

  @Test
  void whatARunCompiledIsKeptWhenWholeAndNeverReplacesAKeptEntry() throws IOException {
    Path run = Files.createDirectories(temp.resolve("run"));
    Path kept = temp.resolve("kept");
    Files.write(run.resolve("a__1__XLA_CPU_JIT.pb"), entry((byte) 1));
    byte[] cut = entry((byte) 2);
    Files.write(run.resolve("b__2__XLA_CPU_JIT.pb"), Arrays.copyOf(cut, cut.length - 10));
    Files.write(run.resolve("c__3__XLA_CPU_JIT.pb"), entry((byte) 3));
    Files.writeString(run.resolve("notes.txt"), "not an entry");
    Files.createDirectories(kept);
    Files.write(kept.resolve("c__3__XLA_CPU_JIT.pb"), entry((byte) 9));

    assertThat(XlaCache.keep(run, kept)).isEqualTo(1);

    try (Stream<Path> files = Files.list(kept)) {
      assertThat(files.map(p -> p.getFileName().toString()).sorted())
          .containsExactly("a__1__XLA_CPU_JIT.pb", "c__3__XLA_CPU_JIT.pb");
    }
    assertThat(Files.readAllBytes(kept.resolve("a__1__XLA_CPU_JIT.pb"))).isEqualTo(entry((byte) 1));
    assertThat(Files.readAllBytes(kept.resolve("c__3__XLA_CPU_JIT.pb")))
        .as("the kept entry stays as it was")
        .isEqualTo(entry((byte) 9));
  }

  @Test
  void theKeptFolderLosesItsOldestEntriesWhenItGrowsPastItsLimit() throws IOException {
    Path kept = Files.createDirectories(temp.resolve("kept"));
    Instant start = Instant.parse("2026-01-01T00:00:00Z");
    for (int i = 0; i < 5; i++) {
      Path file = Files.write(kept.resolve("e" + i + "__XLA_CPU_JIT.pb"), new byte[100]);
      Files.setLastModifiedTime(file, FileTime.from(start.plusSeconds(60L * i)));
    }

    XlaCache.trim(kept, 450, 250);

    try (Stream<Path> files = Files.list(kept)) {
      assertThat(files.map(p -> p.getFileName().toString()).sorted())
          .containsExactly("e3__XLA_CPU_JIT.pb", "e4__XLA_CPU_JIT.pb");
    }
    XlaCache.trim(kept, 450, 250);
    try (Stream<Path> files = Files.list(kept)) {
      assertThat(files.count()).as("under the limit: nothing deleted").isEqualTo(2);
    }
  }

  @Test
  void aKeptFolderThatCannotBeWrittenIsOneLineAndNoFailure() throws IOException {
    Path run = Files.createDirectories(temp.resolve("run"));
    Files.write(run.resolve("a__1__XLA_CPU_JIT.pb"), entry((byte) 1));
    Path blocker = Files.writeString(temp.resolve("a-file"), "a file where a folder should be");
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int kept =
        XlaCache.keep(
            Map.of(
                XlaCache.RUN_VARIABLE, run.toString(),
                XlaCache.KEPT_VARIABLE, blocker.resolve("xla").toString()),
            new PrintStream(err, true, UTF_8));

    assertThat(kept).isZero();
    assertThat(err.toString(UTF_8))
        .startsWith("tfdiffusion: XLA's compiled clusters were not kept in ")
        .contains("set TFDIFFUSION_XLA_CACHE to a folder this user can write")
        .hasLineCount(1);
    assertThat(XlaCache.keep(Map.of(), new PrintStream(err, true, UTF_8)))
        .as("without the launcher's variables")
        .isZero();
  }
}
