package org.tfdiffusion.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.tfdiffusion.run.DurableFiles;

/**
 * The run's {@code metrics.csv}: one row every {@code logEvery} steps. A resumed run first drops
 * the rows past its checkpoint, so the curve continues where the checkpoint left it.
 */
public final class TrainingMetrics implements AutoCloseable {
  /** The TensorBoard scalar series, in the order of the CSV's value columns. */
  static final List<String> SCALARS =
      List.of("loss", "learning_rate", "grad_norm", "images_per_second");

  public static final String HEADER =
      "step,epoch,loss,learning_rate,grad_norm,images_per_second,elapsed_s";

  /** One row. */
  public record Row(
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

  /** How many malformed line numbers a warning names. */
  private static final int MAX_LINES_NAMED = 5;

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
   * of a new run: none exist). Lines that are not a complete row (a row cut short by a kill, an
   * edit) are dropped, and {@code warnings} is told how many and where.
   */
  static TrainingMetrics open(Path file, long lastStep, Consumer<String> warnings) {
    try {
      double elapsedBefore = 0;
      if (Files.exists(file)) {
        List<String> kept = new ArrayList<>();
        List<Integer> malformed = new ArrayList<>();
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
          String line = lines.get(i);
          if (line.startsWith("step") || line.isBlank()) {
            continue;
          }
          Optional<Row> row = parse(line);
          if (row.isEmpty()) {
            malformed.add(i + 1);
          } else if (row.get().step() <= lastStep) {
            kept.add(line);
            elapsedBefore = row.get().elapsedSeconds();
          }
        }
        if (!malformed.isEmpty()) {
          warnings.accept(
              String.format(
                  "%s: dropped %d malformed line%s (line %s)",
                  file,
                  malformed.size(),
                  malformed.size() == 1 ? "" : "s",
                  malformed.stream()
                      .limit(MAX_LINES_NAMED)
                      .map(String::valueOf)
                      .collect(Collectors.joining(", "))));
        }
        StringBuilder text = new StringBuilder(HEADER).append('\n');
        kept.forEach(l -> text.append(l).append('\n'));
        DurableFiles.writeString(file, text.toString());
      } else {
        DurableFiles.writeString(file, HEADER + "\n");
      }
      return new TrainingMetrics(
          Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND),
          elapsedBefore);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + file, e);
    }
  }

  /** A row of metrics.csv; empty for a line that is not one (wrong field count, not a number). */
  static Optional<Row> parse(String line) {
    String[] f = line.split(",", -1);
    if (f.length != HEADER.split(",").length) {
      return Optional.empty();
    }
    try {
      Row row =
          new Row(
              Long.parseLong(f[0].trim()),
              Long.parseLong(f[1].trim()),
              Double.parseDouble(f[2].trim()),
              Double.parseDouble(f[3].trim()),
              Double.parseDouble(f[4].trim()),
              Double.parseDouble(f[5].trim()),
              Double.parseDouble(f[6].trim()));
      return row.step() >= 1 && Double.isFinite(row.elapsedSeconds())
          ? Optional.of(row)
          : Optional.empty();
    } catch (NumberFormatException e) {
      return Optional.empty();
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

  /** Reads the rows of a metrics.csv (for tests and the web page); malformed lines are skipped. */
  public static List<Row> read(Path file) throws IOException {
    List<Row> rows = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (!line.startsWith("step") && !line.isBlank()) {
        parse(line).ifPresent(rows::add);
      }
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
