package org.tfdiffusion.model;

import com.google.common.collect.ImmutableList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.tfdiffusion.nn.ModelLedger;
import org.tfdiffusion.nn.ParameterSpec;

/**
 * Parameters and forward FLOPs of a model, per top-level block and in total.
 *
 * @param rows one row per top-level block, in build order
 */
public record ModelSummary(String description, List<Row> rows) {
  /** One block: its name, trainable scalars, forward FLOPs per image. */
  public record Row(String block, long parameters, long flopsPerImage) {}

  public ModelSummary {
    rows = ImmutableList.copyOf(rows);
  }

  /** Groups a ledger's weights and FLOPs by the first segment of their path. */
  public static ModelSummary of(UNetConfig config, ModelLedger ledger) {
    Map<String, long[]> blocks = new LinkedHashMap<>();
    for (ParameterSpec spec : ledger.parameters().values()) {
      blocks.computeIfAbsent(block(spec.name()), k -> new long[2])[0] += spec.size();
    }
    ledger
        .flops()
        .forEach(
            (path, flops) -> blocks.computeIfAbsent(block(path), k -> new long[2])[1] += flops);
    ImmutableList.Builder<Row> rows = ImmutableList.builder();
    blocks.forEach((name, v) -> rows.add(new Row(name, v[0], v[1])));
    return new ModelSummary("U-Net " + config.describe(), rows.build());
  }

  private static String block(String path) {
    int dot = path.indexOf('.');
    return dot < 0 ? path : path.substring(0, dot);
  }

  /** Total trainable scalars. */
  public long totalParameters() {
    return rows.stream().mapToLong(Row::parameters).sum();
  }

  /** Total forward FLOPs per image. */
  public long totalFlopsPerImage() {
    return rows.stream().mapToLong(Row::flopsPerImage).sum();
  }

  /** Total forward GFLOPs per image. */
  public double gflopsPerImage() {
    return totalFlopsPerImage() / 1e9;
  }

  /** A printable table. */
  public String format() {
    StringBuilder s = new StringBuilder(description).append('\n');
    String line = "%-14s %14s %12s%n";
    s.append(String.format(line, "block", "parameters", "GFLOP/image"));
    for (Row row : rows) {
      s.append(
          String.format(
              "%-14s %,14d %12.4f%n", row.block(), row.parameters(), row.flopsPerImage() / 1e9));
    }
    s.append(String.format("%-14s %,14d %12.4f%n", "total", totalParameters(), gflopsPerImage()));
    return s.toString();
  }
}
