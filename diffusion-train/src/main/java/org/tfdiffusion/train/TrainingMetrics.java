package org.tfdiffusion.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The run's {@code metrics.csv}: one row every {@code logEvery} steps. A resumed run first drops
 * the rows past its checkpoint, so the curve continues where the checkpoint left it.
 */
final class TrainingMetrics implements AutoCloseable {
  /** The TensorBoard scalar series, in the order of the CSV's value columns. */
  static final List<String> SCALARS =
      List.of("loss", "learning_rate", "grad_norm", "images_per_second");

  static final String HEADER =
      "step,epoch,loss,learning_rate,grad_norm,images_per_second,elapsed_s";

  /** One row. */
  record Row(
      long step,
      long epoch,
      double loss,
      double learningRate,
      double gradNorm,
      double imagesPerSecond,
      double elapsedSeconds) {
    String csv() {
      return String.format(
          Locale.ROOT,
          "%d,%d,%.6g,%.6g,%.6g,%.4g,%.1f",
          step,
          epoch,
          loss,
          learningRate,
          gradNorm,
          imagesPerSecond,
          elapsedSeconds);
    }
  }

  private final BufferedWriter out;
  private final double elapsedBefore;

  private TrainingMetrics(BufferedWriter out, double elapsedBefore) {
    this.out = out;
    this.elapsedBefore = elapsedBefore;
  }

  /**
   * The elapsed seconds of the last row kept when opening (0 for a new run), so that a resumed
   * run's {@code elapsed_s} continues the run's clock instead of restarting it.
   */
  double elapsedBefore() {
    return elapsedBefore;
  }

  /**
   * Opens metrics.csv for appending, first keeping only the rows up to {@code lastStep} (all rows
   * of a new run: none exist).
   */
  static TrainingMetrics open(Path file, long lastStep) {
    try {
      double elapsedBefore = 0;
      if (Files.exists(file)) {
        List<String> kept = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
          if (line.startsWith("step") || line.isBlank()) {
            continue;
          }
          if (Long.parseLong(line.substring(0, line.indexOf(','))) <= lastStep) {
            kept.add(line);
            elapsedBefore = Double.parseDouble(line.substring(line.lastIndexOf(',') + 1));
          }
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        List<String> lines = new ArrayList<>();
        lines.add(HEADER);
        lines.addAll(kept);
        Files.write(tmp, lines, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      } else {
        Files.writeString(file, HEADER + "\n", StandardCharsets.UTF_8);
      }
      return new TrainingMetrics(
          Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND),
          elapsedBefore);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  void append(Row row) {
    try {
      out.write(row.csv());
      out.newLine();
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot append to metrics.csv", e);
    }
  }

  /** Reads the rows of a metrics.csv (for tests and the web page). */
  static List<Row> read(Path file) throws IOException {
    List<Row> rows = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (line.startsWith("step") || line.isBlank()) {
        continue;
      }
      String[] f = line.split(",");
      rows.add(
          new Row(
              Long.parseLong(f[0]),
              Long.parseLong(f[1]),
              Double.parseDouble(f[2]),
              Double.parseDouble(f[3]),
              Double.parseDouble(f[4]),
              Double.parseDouble(f[5]),
              Double.parseDouble(f[6])));
    }
    return rows;
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
