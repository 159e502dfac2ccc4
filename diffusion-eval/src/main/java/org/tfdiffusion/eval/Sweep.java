package org.tfdiffusion.eval;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.tfdiffusion.eval.plot.LinePlot;
import org.tfdiffusion.sampling.SamplerKind;

/**
 * The results of a sweep and their files: {@code sweep.csv}, {@code sweep.md}, {@code sweep.json},
 * {@code quality-vs-nfe.png} (FD and KID against network evaluations per image, log x, one line per
 * sampler kind, the real-data floor dashed) and, for conditional models, {@code guidance.png} (FD
 * and class accuracy against the guidance scale).
 */
public final class Sweep {
  /** What a sweep row varies. */
  public enum Part {
    /** Sampler and steps at one guidance scale. */
    SAMPLER,
    /** Guidance scale at one sampler. */
    GUIDANCE
  }

  /** One measured setting. */
  public record Row(
      Part part,
      SamplerKind kind,
      String samplerName,
      int steps,
      Optional<Double> guidance,
      Figures figures) {}

  /** The top of the class-accuracy axis: a little above 1 so that the 1.0 line shows. */
  private static final double ACCURACY_AXIS_TOP = 1.05;

  private final List<Row> rows = new ArrayList<>();
  private final Figures floor;
  private final Map<String, Object> header;

  /**
   * @param floor real training images against the test split
   * @param header the settings to put at the top of sweep.json and sweep.md
   */
  public Sweep(Figures floor, Map<String, Object> header) {
    this.floor = floor;
    this.header = new LinkedHashMap<>(header);
  }

  public void add(Row row) {
    rows.add(row);
  }

  public List<Row> rows() {
    return List.copyOf(rows);
  }

  /** Writes every file into {@code dir}, each atomically. */
  public void write(Path dir) {
    Reports.writeText(dir.resolve("sweep.csv"), csv());
    Reports.writeText(dir.resolve("sweep.md"), markdown());
    Map<String, Object> json = new LinkedHashMap<>(header);
    List<Map<String, Object>> list = new ArrayList<>();
    for (Row r : rows) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("part", r.part().name().toLowerCase(Locale.ROOT));
      m.put("sampler", r.kind().configName());
      m.put("sampler_detail", r.samplerName());
      m.put("steps", r.steps());
      m.put("network_evaluations", r.steps());
      m.put("guidance", r.guidance().orElse(null));
      m.putAll(Reports.toJson(r.figures()));
      list.add(m);
    }
    json.put("rows", list);
    json.put("floor", Reports.toJson(floor));
    Reports.writeJson(dir.resolve("sweep.json"), json);
    LinePlot.write(dir.resolve("quality-vs-nfe.png"), qualityPanels());
    if (rows.stream().anyMatch(r -> r.part() == Part.GUIDANCE)) {
      LinePlot.write(dir.resolve("guidance.png"), guidancePanels());
    }
  }

  String csv() {
    StringBuilder s =
        new StringBuilder(
            "part,sampler,steps,network_evaluations,guidance,images,fd,kid_mean,kid_std,"
                + "class_accuracy,seconds,seconds_per_1000_images\n");
    for (Row r : rows) {
      Figures f = r.figures();
      s.append(
          String.join(
              ",",
              r.part().name().toLowerCase(Locale.ROOT),
              r.kind().configName(),
              String.valueOf(r.steps()),
              String.valueOf(r.steps()),
              r.guidance().map(Reports::number).orElse(""),
              String.valueOf(f.images()),
              String.valueOf(f.fd()),
              String.valueOf(f.kidMean()),
              String.valueOf(f.kidStd()),
              f.classAccuracy().map(String::valueOf).orElse(""),
              String.format(Locale.ROOT, "%.3f", f.seconds()),
              String.format(Locale.ROOT, "%.3f", f.secondsPer1000())));
      s.append('\n');
    }
    s.append(
        String.join(
            ",",
            "floor",
            "real-train",
            "",
            "",
            "",
            String.valueOf(floor.images()),
            String.valueOf(floor.fd()),
            String.valueOf(floor.kidMean()),
            String.valueOf(floor.kidStd()),
            floor.classAccuracy().map(String::valueOf).orElse(""),
            "",
            ""));
    s.append('\n');
    return s.toString();
  }

  String markdown() {
    StringBuilder s = new StringBuilder("# Sampler sweep\n\n");
    header.forEach((k, v) -> s.append("- ").append(k).append(": ").append(v).append('\n'));
    s.append('\n');
    appendTable(s, Part.SAMPLER, "Samplers");
    appendTable(s, Part.GUIDANCE, "Guidance");
    s.append("Floor (")
        .append(floor.images())
        .append(" real training images vs the test split): FD ")
        .append(Reports.fd(floor.fd()))
        .append(", KID ")
        .append(Reports.kid(floor.kidMean()))
        .append(" ± ")
        .append(Reports.kid(floor.kidStd()))
        .append(", class accuracy ")
        .append(Reports.accuracy(floor))
        .append(".\n\n");
    s.append("Samplers in full:\n\n");
    rows.stream().map(r -> "- " + r.samplerName() + "\n").distinct().forEach(s::append);
    return s.toString();
  }

  private void appendTable(StringBuilder s, Part part, String title) {
    List<Row> selected = rows.stream().filter(r -> r.part() == part).toList();
    if (selected.isEmpty()) {
      return;
    }
    s.append("## ").append(title).append("\n\n");
    s.append(
        "| sampler | steps (NFE) | guidance | FD | KID | class accuracy | seconds | s / 1000 images |\n");
    s.append("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (Row r : selected) {
      Figures f = r.figures();
      s.append(
          String.format(
              Locale.ROOT,
              "| %s | %d | %s | %s | %s ± %s | %s | %.1f | %.1f |%n",
              r.kind().configName(),
              r.steps(),
              r.guidance().map(Reports::number).orElse("-"),
              Reports.fd(f.fd()),
              Reports.kid(f.kidMean()),
              Reports.kid(f.kidStd()),
              Reports.accuracy(f),
              f.seconds(),
              f.secondsPer1000()));
    }
    s.append('\n');
  }

  private List<LinePlot.Panel> qualityPanels() {
    List<LinePlot.Series> fd = new ArrayList<>();
    List<LinePlot.Series> kid = new ArrayList<>();
    for (SamplerKind kind : SamplerKind.values()) {
      List<Row> selected =
          rows.stream().filter(r -> r.part() == Part.SAMPLER && r.kind() == kind).toList();
      if (selected.isEmpty()) {
        continue;
      }
      double[] x = selected.stream().mapToDouble(Row::steps).toArray();
      String name = displayName(kind);
      fd.add(
          new LinePlot.Series(
              name, x, selected.stream().mapToDouble(r -> r.figures().fd()).toArray()));
      kid.add(
          new LinePlot.Series(
              name, x, selected.stream().mapToDouble(r -> r.figures().kidMean()).toArray()));
    }
    String n = "N = " + floor.images();
    return List.of(
        LinePlot.Panel.of(
                "FD vs network evaluations (" + n + ")",
                "network evaluations per image",
                "FD",
                true,
                fd)
            .withReference(floor.fd(), "real train vs test"),
        LinePlot.Panel.of(
                "KID vs network evaluations", "network evaluations per image", "KID", true, kid)
            .withReference(floor.kidMean(), "real train vs test"));
  }

  private List<LinePlot.Panel> guidancePanels() {
    List<Row> selected = rows.stream().filter(r -> r.part() == Part.GUIDANCE).toList();
    double[] w = selected.stream().mapToDouble(r -> r.guidance().orElse(Double.NaN)).toArray();
    String name =
        selected.isEmpty()
            ? ""
            : selected.get(0).kind().configName() + "-" + selected.get(0).steps();
    LinePlot.Series fd =
        new LinePlot.Series(
            name, w, selected.stream().mapToDouble(r -> r.figures().fd()).toArray());
    LinePlot.Series accuracy =
        new LinePlot.Series(
            name,
            w,
            selected.stream()
                .mapToDouble(r -> r.figures().classAccuracy().orElse(Double.NaN))
                .toArray());
    LinePlot.Panel accuracyPanel =
        LinePlot.Panel.of(
                "Class accuracy vs guidance",
                "guidance scale w",
                "class accuracy",
                false,
                List.of(accuracy))
            .withYRange(0, ACCURACY_AXIS_TOP);
    if (floor.classAccuracy().isPresent()) {
      accuracyPanel =
          accuracyPanel.withReference(floor.classAccuracy().get(), "classifier on real train");
    }
    return List.of(
        LinePlot.Panel.of("FD vs guidance", "guidance scale w", "FD", false, List.of(fd))
            .withReference(floor.fd(), "real train vs test"),
        accuracyPanel);
  }

  private static String displayName(SamplerKind kind) {
    return switch (kind) {
      case DDPM -> "DDPM";
      case DDIM -> "DDIM (eta 0)";
      case DPMPP -> "DPM-Solver++ (2M)";
      case DPMPP_SDE -> "DPM-Solver++ (2M SDE)";
      case DPM_SOLVER -> "DPM-Solver (2M)";
      case UNIPC -> "UniPC (bh2)";
      case EULER -> "Euler";
      case EULER_ANCESTRAL -> "Euler ancestral";
      case HEUN -> "Heun";
      case LMS -> "LMS (order 4)";
      case PNDM -> "PNDM (PLMS)";
      case DEIS -> "DEIS (2M)";
    };
  }
}
