package org.tfdiffusion.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
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
 * {@code quality-vs-nfe.png} (FD, log y, and KID against network evaluations per image, log x, one
 * line per sampler kind, the real-data floor dashed) and, for conditional models, {@code
 * guidance.png} (FD and class accuracy against the guidance scale).
 */
public final class Sweep {
  /** What a sweep row varies. */
  public enum Part {
    /** Sampler and steps at one guidance scale. */
    SAMPLER,
    /** Guidance scale at one sampler. */
    GUIDANCE,
    /**
     * A student of progressive distillation ({@code distill}), with the sampler and guidance it was
     * distilled for.
     */
    STUDENT
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

  /** The settings a sweep's figures depend on: rows measured under other values do not mix. */
  static final List<String> SETTINGS =
      List.of("model", "n", "seed", "batch_size", "classifier", "test_data", "train_data", "kid");

  /** The header values of {@link #SETTINGS} as JSON, to compare a sweep on disk with a new one. */
  public static Map<String, JsonNode> settings(Map<String, Object> header) {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    for (String key : SETTINGS) {
      out.put(key, Reports.json().valueToTree(header.get(key)));
    }
    return out;
  }

  /**
   * Whether two setting values are the same: JSON equality with numbers compared by value (a seed
   * written as a long reads back as an int) and objects by their fields in any order.
   */
  public static boolean sameSetting(JsonNode a, JsonNode b) {
    if (a == null || b == null || a.isNull() || b.isNull()) {
      return (a == null || a.isNull()) && (b == null || b.isNull());
    }
    return a.equals(
        (x, y) ->
            x.isNumber() && y.isNumber()
                ? Double.compare(x.doubleValue(), y.doubleValue())
                : x.equals(y) ? 0 : 1,
        b);
  }

  /** The sweep header's settings, for {@link #settings(Map)}. */
  Map<String, Object> header() {
    return new LinkedHashMap<>(header);
  }

  /**
   * The rows of a {@code sweep.json} written by {@link #write}, with its header's settings.
   *
   * @throws IllegalArgumentException naming the file when it is not a sweep's JSON
   */
  public static Stored read(Path json) {
    JsonNode root;
    try {
      root = Reports.json().readTree(json.toFile());
    } catch (IOException e) {
      throw new IllegalArgumentException(
          json
              + " cannot be read as a sweep ("
              + e.getMessage().lines().findFirst().orElse("")
              + "); choose another --out or drop --resume",
          e);
    }
    if (root == null || !root.path("rows").isArray()) {
      throw new IllegalArgumentException(
          json + " holds no sweep rows; choose another --out or drop --resume");
    }
    Map<String, JsonNode> settings = new LinkedHashMap<>();
    for (String key : SETTINGS) {
      settings.put(key, root.path(key).isMissingNode() ? null : root.get(key));
    }
    List<Row> rows = new ArrayList<>();
    for (JsonNode r : root.get("rows")) {
      JsonNode histogram = r.path("predicted_class_histogram");
      int[] counts = new int[histogram.size()];
      for (int i = 0; i < counts.length; i++) {
        counts[i] = histogram.get(i).asInt();
      }
      Figures f =
          new Figures(
              r.get("images").asInt(),
              r.get("fd").asDouble(),
              r.get("kid_mean").asDouble(),
              r.get("kid_std").asDouble(),
              r.path("class_accuracy").isNumber()
                  ? Optional.of(r.get("class_accuracy").asDouble())
                  : Optional.empty(),
              counts,
              r.path("seconds").asDouble(0));
      rows.add(
          new Row(
              Part.valueOf(r.get("part").asText().toUpperCase(Locale.ROOT)),
              SamplerKind.lookup(r.get("sampler").asText()),
              r.get("sampler_detail").asText(),
              r.get("steps").asInt(),
              r.path("guidance").isNumber()
                  ? Optional.of(r.get("guidance").asDouble())
                  : Optional.empty(),
              f));
    }
    return new Stored(settings, rows);
  }

  /** A sweep read back: the settings it was measured under and its rows. */
  public record Stored(Map<String, JsonNode> settings, List<Row> rows) {
    /**
     * The row measured for {@code part} with the sampler whose plan is named {@code planName} (the
     * row's sampler name starts with it) at guidance {@code guidance}.
     */
    public Optional<Row> find(Part part, String planName, Optional<Double> guidance) {
      return rows.stream()
          .filter(
              r ->
                  r.part() == part
                      && (r.samplerName().equals(planName)
                          || r.samplerName().startsWith(planName + " "))
                      && r.guidance().equals(guidance))
          .findFirst();
    }
  }

  /** Whether a file exists where a sweep would be resumed from. */
  public static boolean exists(Path dir) {
    return Files.isRegularFile(dir.resolve("sweep.json"));
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
    appendTable(s, Part.STUDENT, "Distilled students");
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
    List<Row> students = rows.stream().filter(r -> r.part() == Part.STUDENT).toList();
    if (!students.isEmpty()) {
      double[] x = students.stream().mapToDouble(Row::steps).toArray();
      String name = "distilled students (DDIM)";
      fd.add(
          new LinePlot.Series(
              name, x, students.stream().mapToDouble(r -> r.figures().fd()).toArray()));
      kid.add(
          new LinePlot.Series(
              name, x, students.stream().mapToDouble(r -> r.figures().kidMean()).toArray()));
    }
    String n = "N = " + floor.images();
    return List.of(
        LinePlot.Panel.of(
                "FD vs network evaluations (" + n + ")",
                "network evaluations per image",
                "FD",
                true,
                fd)
            .withReference(floor.fd(), "real train vs test")
            .withLogY(),
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
