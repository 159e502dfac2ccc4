package org.tfdiffusion.export.serving;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.tfdiffusion.run.RunDirectory;

/**
 * The training runs under {@code serve --runs DIR}, for the web page: read-only extensions to
 * TensorFlow Serving's REST API.
 *
 * <ul>
 *   <li>{@code GET /v1/runs}: {@code {"runs_dir": "/abs/DIR", "runs": [{"name", "updated", "rows",
 *       "last_step", "last_loss", "samples": [{"file": "step-000600.png", "step": 600}, ...],
 *       "config": {...}}, ...]}}, newest first (by the time metrics.csv or config.json last
 *       changed); samples newest first. {@code "runs_dir": null} when the server has no runs;
 *   <li>{@code GET /v1/runs/NAME/metrics.csv}: the run's metrics, as training writes them;
 *   <li>{@code GET /v1/runs/NAME/config.json}: the run's config;
 *   <li>{@code GET /v1/runs/NAME/samples/step-N.png}: a sample grid.
 * </ul>
 *
 * A run is a folder directly under DIR that holds {@code config.json} or {@code metrics.csv} (DIR
 * itself when it is one run folder). One rule holds for the listing and the files alike: nothing is
 * read whose real path (every symbolic link followed) lies outside DIR's real path, and a run's
 * files must lie inside the run's own real path. A link that leads out is treated as if it were not
 * there. Only names from the listing are served, and only sample files named {@code step-N.png}:
 * anything else, {@code ..} and encoded slashes included, is a 404.
 */
public final class RunCatalog {
  /** The files of a run that the server answers. */
  private static final Pattern RUN_FILE =
      Pattern.compile("/v1/runs/([^/]+)/(metrics\\.csv|config\\.json|samples/([^/]+))");

  /** A sample grid's file name, as the trainer writes it. */
  private static final Pattern SAMPLE = Pattern.compile("step-([0-9]{1,18})\\.png");

  private static final String METRICS = "metrics.csv";

  private final Optional<Path> dir;

  /**
   * @param dir the folder of runs, or empty for a server without runs
   */
  RunCatalog(Optional<Path> dir) {
    this.dir = dir.map(d -> d.toAbsolutePath().normalize());
  }

  public Optional<Path> dir() {
    return dir;
  }

  /** The run folders by name, newest first (only folders whose real path lies inside DIR's). */
  public Map<String, Path> runs() {
    if (dir.isEmpty() || !Files.isDirectory(dir.get())) {
      return Map.of();
    }
    Path root = dir.get();
    Path rootReal;
    try {
      rootReal = root.toRealPath();
    } catch (IOException e) {
      return Map.of();
    }
    List<Path> found = new ArrayList<>();
    if (isRun(root)) {
      found.add(root);
    } else {
      try (Stream<Path> entries = Files.list(root)) {
        entries
            .filter(p -> !p.getFileName().toString().startsWith("."))
            .filter(p -> Files.isDirectory(p) && realPathWithin(rootReal, p))
            .filter(RunCatalog::isRun)
            .forEach(found::add);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot list " + root, e);
      }
    }
    found.sort(
        Comparator.comparing(RunCatalog::updated)
            .reversed()
            .thenComparing(p -> p.getFileName().toString()));
    Map<String, Path> out = new LinkedHashMap<>();
    found.forEach(p -> out.put(p.getFileName().toString(), p));
    return out;
  }

  private static boolean isRun(Path p) {
    return Files.isDirectory(p)
        && (inside(p, p.resolve(RunDirectory.CONFIG)) || inside(p, p.resolve(METRICS)));
  }

  /** When the run last logged: metrics.csv's time, else config.json's. */
  private static FileTime updated(Path run) {
    for (String f : new String[] {METRICS, RunDirectory.CONFIG}) {
      Path file = run.resolve(f);
      if (inside(run, file)) {
        try {
          return Files.getLastModifiedTime(file);
        } catch (IOException e) {
          // try the next
        }
      }
    }
    return FileTime.fromMillis(0);
  }

  /** The sample grids of a run (files inside it), newest (highest step) first. */
  private static List<Sample> samples(Path run) {
    Path folder = run.resolve("samples");
    if (!Files.isDirectory(folder)) {
      return List.of();
    }
    List<Sample> out = new ArrayList<>();
    try (Stream<Path> entries = Files.list(folder)) {
      for (Path p : entries.toList()) {
        Matcher m = SAMPLE.matcher(p.getFileName().toString());
        if (m.matches() && inside(run, p)) {
          out.add(new Sample(p.getFileName().toString(), Long.parseLong(m.group(1))));
        }
      }
    } catch (IOException e) {
      return List.of();
    }
    out.sort(Comparator.comparingLong(Sample::step).reversed());
    return out;
  }

  private record Sample(String file, long step) {}

  /** {@code GET /v1/runs}. */
  byte[] listing() {
    Map<String, Path> runs = runs();
    return RestServer.json(
        g -> {
          g.writeStartObject();
          if (dir.isPresent()) {
            g.writeStringField("runs_dir", dir.get().toString());
          } else {
            g.writeNullField("runs_dir");
          }
          g.writeArrayFieldStart("runs");
          for (Map.Entry<String, Path> run : runs.entrySet()) {
            Path p = run.getValue();
            g.writeStartObject();
            g.writeStringField("name", run.getKey());
            g.writeStringField("updated", updated(p).toInstant().toString());
            List<String> rows = metricRows(p);
            g.writeNumberField("rows", rows.size());
            if (!rows.isEmpty()) {
              String[] last = rows.get(rows.size() - 1).split(",");
              try {
                g.writeNumberField("last_step", Long.parseLong(last[0]));
                g.writeNumberField("last_loss", Double.parseDouble(last[2]));
              } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
                // a row being written, or not training's format: no summary
              }
            }
            g.writeArrayFieldStart("samples");
            for (Sample s : samples(p)) {
              g.writeStartObject();
              g.writeStringField("file", s.file());
              g.writeNumberField("step", s.step());
              g.writeEndObject();
            }
            g.writeEndArray();
            Optional<JsonNode> config = readConfig(p);
            if (config.isPresent()) {
              g.writeFieldName("config");
              g.writeTree(config.get());
            } else {
              g.writeNullField("config");
            }
            g.writeEndObject();
          }
          g.writeEndArray();
          g.writeEndObject();
        });
  }

  /** The data rows of metrics.csv (no header, no blank lines); none when it is missing. */
  private static List<String> metricRows(Path run) {
    Path file = run.resolve(METRICS);
    if (!inside(run, file)) {
      return List.of();
    }
    try {
      return Files.readAllLines(file, StandardCharsets.UTF_8).stream()
          .filter(l -> !l.isBlank() && !l.startsWith("step"))
          .toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  private static Optional<JsonNode> readConfig(Path run) {
    Path file = run.resolve(RunDirectory.CONFIG);
    if (!inside(run, file)) {
      return Optional.empty();
    }
    try {
      return Optional.of(PredictRequest.MAPPER.readTree(file.toFile()));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** {@code GET /v1/runs/NAME/metrics.csv}. */
  Path metrics(String name) {
    return existing(run(name), METRICS, name);
  }

  /** {@code GET /v1/runs/NAME/config.json}. */
  Path config(String name) {
    return existing(run(name), RunDirectory.CONFIG, name);
  }

  /** {@code GET /v1/runs/NAME/samples/FILE}: only a {@code step-N.png} of the listing. */
  Path sample(String name, String file) {
    Path run = run(name);
    if (samples(run).stream().noneMatch(s -> s.file().equals(file))) {
      throw ServingException.notFound(
          "run %s has no sample grid '%s' (GET /v1/runs lists its samples/step-N.png files)",
          name, file);
    }
    return existing(run, "samples/" + file, name);
  }

  private Path run(String name) {
    if (dir.isEmpty()) {
      throw ServingException.notFound(
          "this server shows no training runs; start it with serve --runs DIR (a folder of run"
              + " folders)");
    }
    Path run = runs().get(name);
    if (run == null) {
      throw ServingException.notFound(
          "no run '%s' under %s (GET /v1/runs lists them)", name, dir.get());
    }
    return run;
  }

  /** A file of a run, after checking that its real path lies inside the run's real path. */
  private static Path existing(Path run, String relative, String name) {
    Path file = run.resolve(relative);
    if (inside(run, file)) {
      return file;
    }
    throw ServingException.notFound("run %s has no %s", name, relative);
  }

  /**
   * Whether a file exists and its real path (links followed) lies inside the run's: the one rule
   * for every file the listing reads and every file the endpoints serve.
   */
  private static boolean inside(Path run, Path file) {
    try {
      return Files.isRegularFile(file) && realPathWithin(run.toRealPath(), file);
    } catch (IOException e) {
      return false; // gone since the listing
    }
  }

  /** Whether {@code p}'s real path (links followed) lies inside {@code realFolder}. */
  private static boolean realPathWithin(Path realFolder, Path p) {
    try {
      return p.toRealPath().startsWith(realFolder);
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * {@code GET /v1/runs/NAME/metrics.csv}, {@code config.json} or {@code samples/step-N.png}: only
   * names that {@link #listing} lists.
   */
  HttpReply file(HttpCall call) {
    String path = call.rawPath();
    Matcher m = RUN_FILE.matcher(path);
    if (!m.matches()) {
      throw ServingException.notFound(
          "Malformed request: %s (runs serve /v1/runs/NAME/metrics.csv, /v1/runs/NAME/config.json"
              + " and /v1/runs/NAME/samples/step-N.png)",
          path);
    }
    RestServer.requireMethod(call, "GET");
    String name = decode(m.group(1));
    Path file;
    String type;
    if (m.group(3) != null) {
      file = sample(name, decode(m.group(3)));
      type = "image/png";
    } else if (m.group(2).equals(METRICS)) {
      file = metrics(name);
      type = "text/csv; charset=utf-8";
    } else {
      file = config(name);
      type = "application/json";
    }
    try {
      return HttpReply.file(type, Files.readAllBytes(file));
    } catch (IOException e) {
      throw ServingException.notFound("cannot read %s of run %s: %s", file.getFileName(), name, e);
    }
  }

  /** A percent-decoded URL path segment (a run name may hold spaces or other characters). */
  private static String decode(String segment) {
    try {
      return URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      throw ServingException.notFound("Malformed request: bad percent-encoding in '%s'", segment);
    }
  }
}
