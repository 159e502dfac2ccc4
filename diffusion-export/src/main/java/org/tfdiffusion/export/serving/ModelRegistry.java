package org.tfdiffusion.export.serving;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The models under a base path, in TensorFlow Serving's layout: {@code BASE/NAME/VERSION/} with
 * integer versions. Folders whose name is not an integer (such as the exporter's {@code
 * .tmp-export-*}) and version folders without a {@code saved_model.pb} are ignored. A version is
 * loaded on its first request and kept; the latest version is the default, every version on disk
 * stays reachable by number. The base path is scanned every poll interval and a model's folder
 * again on each request for it, so a version that appears while the server runs is served at once;
 * a version whose folder disappears is closed after its last request.
 */
public final class ModelRegistry implements AutoCloseable {
  /** A model name: a folder name that is also a URL path segment. */
  private static final String NAME = "[A-Za-z0-9][A-Za-z0-9_.-]*";

  /** The state of one version, as model status reports it. */
  public enum State {
    /** Loaded, or on disk and loaded on its first request. */
    AVAILABLE,
    /** Loading it failed; TensorFlow Serving's state for a version that is not served. */
    END
  }

  /** One version's status. */
  public record VersionStatus(long version, State state, ErrorCode code, String message) {}

  /**
   * One version folder as the last scan saw it, without loading it.
   *
   * @param loaded whether a request has loaded it
   * @param failure why loading it failed, or empty
   */
  public record VersionEntry(
      long version, Path directory, boolean loaded, Optional<String> failure) {}

  private final Path base;
  private final ServerLog log;
  private final Map<String, NavigableMap<Long, Slot>> models = new ConcurrentHashMap<>();
  private final ScheduledExecutorService poller;
  private volatile boolean closed;

  /** One version folder: loaded at most once, on demand. */
  private final class Slot {
    final String name;
    final long version;
    final Path dir;
    private ServableModel model;
    private String failure;
    private boolean removed;

    Slot(String name, long version, Path dir) {
      this.name = name;
      this.version = version;
      this.dir = dir;
    }

    /** The loaded model, acquired for one request; loads it on first use. */
    synchronized ServableModel acquire() {
      if (removed || closed) {
        throw new ServingException(
            ErrorCode.NOT_FOUND,
            String.format("version %d of model %s is no longer served", version, name));
      }
      if (failure != null) {
        throw new ServingException(
            ErrorCode.UNAVAILABLE,
            String.format("version %d of model %s failed to load: %s", version, name, failure));
      }
      if (model == null) {
        long start = System.nanoTime();
        try {
          model = ServableModel.load(name, version, dir);
        } catch (RuntimeException e) {
          failure = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
          log.error("loading " + name + " version " + version + " from " + dir + " failed", e);
          throw new ServingException(
              ErrorCode.UNAVAILABLE,
              String.format("version %d of model %s failed to load: %s", version, name, failure));
        }
        log.info(
            String.format(
                "loaded %s version %d in %.1f s (%s)",
                name, version, (System.nanoTime() - start) / 1e9, dir));
      }
      if (!model.acquire()) {
        throw new ServingException(
            ErrorCode.NOT_FOUND,
            String.format("version %d of model %s is no longer served", version, name));
      }
      return model;
    }

    synchronized void remove() {
      removed = true;
      if (model != null) {
        model.retire();
      }
    }

    synchronized boolean loaded() {
      return model != null;
    }

    synchronized VersionEntry entry() {
      return new VersionEntry(version, dir, model != null, Optional.ofNullable(failure));
    }

    synchronized VersionStatus status() {
      return failure == null
          ? new VersionStatus(version, State.AVAILABLE, ErrorCode.OK, "")
          : new VersionStatus(version, State.END, ErrorCode.UNKNOWN, failure);
    }
  }

  /**
   * @param base the folder that holds one folder per model
   * @param poll how often to rescan {@code base}; zero or negative: only on request
   */
  public ModelRegistry(Path base, Duration poll, ServerLog log) {
    this.base = base;
    this.log = log;
    scanAll();
    if (!poll.isNegative() && !poll.isZero()) {
      poller =
          Executors.newSingleThreadScheduledExecutor(
              r -> {
                Thread t = new Thread(r, "serve-poll");
                t.setDaemon(true);
                return t;
              });
      poller.scheduleWithFixedDelay(
          this::pollQuietly, poll.toMillis(), poll.toMillis(), TimeUnit.MILLISECONDS);
    } else {
      poller = null;
    }
  }

  public Path base() {
    return base;
  }

  /** The names of the models with at least one version, sorted. */
  public List<String> modelNames() {
    return models.entrySet().stream()
        .filter(e -> !e.getValue().isEmpty())
        .map(Map.Entry::getKey)
        .sorted()
        .toList();
  }

  /** The versions of a model on disk (as of the last scan), ascending. */
  public List<Long> versions(String name) {
    NavigableMap<Long, Slot> slots = models.get(name);
    if (slots == null) {
      return List.of();
    }
    synchronized (slots) {
      return List.copyOf(slots.keySet());
    }
  }

  /**
   * The versions of a model as of the last scan, newest first, without loading any (for the model
   * list, {@code GET /v1/models}).
   */
  public List<VersionEntry> entries(String name) {
    NavigableMap<Long, Slot> slots = models.get(name);
    if (slots == null) {
      return List.of();
    }
    List<Slot> newestFirst;
    synchronized (slots) {
      newestFirst = new ArrayList<>(slots.descendingMap().values());
    }
    return newestFirst.stream().map(Slot::entry).toList();
  }

  /**
   * The model version for a request, acquired: the caller must {@link ServableModel#release} it.
   *
   * @param version a version number, or empty for the latest that loads
   * @throws ServingException 404 for an unknown model or version, 503 for a version that failed to
   *     load
   */
  public ServableModel acquire(String name, OptionalLong version) {
    scan(name);
    NavigableMap<Long, Slot> slots = models.get(name);
    List<Slot> candidates;
    if (slots == null) {
      candidates = List.of();
    } else {
      synchronized (slots) {
        candidates = new ArrayList<>(slots.descendingMap().values());
      }
    }
    if (candidates.isEmpty()) {
      throw ServingException.notFound(
          "Servable not found for request: %s; %s",
          version.isPresent()
              ? "Specific(" + name + ", " + version.getAsLong() + ")"
              : "Latest(" + name + ")",
          known());
    }
    if (version.isPresent()) {
      for (Slot slot : candidates) {
        if (slot.version == version.getAsLong()) {
          return slot.acquire();
        }
      }
      throw ServingException.notFound(
          "Servable not found for request: Specific(%s, %d); model %s has versions %s",
          name, version.getAsLong(), name, versionList(candidates));
    }
    ServingException last = null;
    for (Slot slot : candidates) {
      try {
        return slot.acquire();
      } catch (ServingException e) {
        last = e; // a version that failed to load: fall back to the one before, as TF Serving does
      }
    }
    throw last;
  }

  /**
   * The status of every version of a model, newest first (loads the latest, as a request would).
   */
  public List<VersionStatus> status(String name, OptionalLong version) {
    ServableModel model = null;
    try {
      model = acquire(name, version);
    } catch (ServingException e) {
      if (e.code() == ErrorCode.NOT_FOUND) {
        throw e;
      }
      // a version that failed to load: reported as END below
    } finally {
      if (model != null) {
        model.release();
      }
    }
    NavigableMap<Long, Slot> slots = models.get(name);
    if (slots == null) {
      return List.of();
    }
    List<VersionStatus> out = new ArrayList<>();
    synchronized (slots) {
      for (Slot slot : slots.descendingMap().values()) {
        if (version.isEmpty() || slot.version == version.getAsLong()) {
          out.add(slot.status());
        }
      }
    }
    return out;
  }

  /** Rescans every model folder under the base path. */
  public void scanAll() {
    List<String> onDisk = new ArrayList<>();
    if (Files.isDirectory(base)) {
      try (Stream<Path> entries = Files.list(base)) {
        entries
            .filter(Files::isDirectory)
            .map(p -> p.getFileName().toString())
            .filter(n -> n.matches(NAME))
            .forEach(onDisk::add);
      } catch (IOException e) {
        log.error("cannot list " + base, e);
        return;
      }
    }
    for (String name : onDisk) {
      scan(name);
    }
    for (String name : List.copyOf(models.keySet())) {
      if (!onDisk.contains(name)) {
        scan(name);
      }
    }
  }

  /** Rescans one model's folder: adds new versions, retires versions whose folder is gone. */
  public void scan(String name) {
    if (closed || !name.matches(NAME)) {
      return;
    }
    Map<Long, Path> onDisk = versionFolders(base.resolve(name));
    NavigableMap<Long, Slot> slots = models.get(name);
    if (slots == null) {
      if (onDisk.isEmpty()) {
        return;
      }
      slots =
          models.computeIfAbsent(name, n -> Collections.synchronizedNavigableMap(new TreeMap<>()));
    }
    synchronized (slots) {
      for (Map.Entry<Long, Path> v : onDisk.entrySet()) {
        if (!slots.containsKey(v.getKey())) {
          slots.put(v.getKey(), new Slot(name, v.getKey(), v.getValue()));
          log.info("found " + name + " version " + v.getKey() + " (" + v.getValue() + ")");
        }
      }
      for (Long v : List.copyOf(slots.keySet())) {
        if (!onDisk.containsKey(v)) {
          Slot gone = slots.remove(v);
          gone.remove();
          log.info(name + " version " + v + " is gone from disk; no longer served");
        }
      }
    }
  }

  /** The integer-named folders of a model that hold a SavedModel. */
  private static Map<Long, Path> versionFolders(Path modelDir) {
    Map<Long, Path> out = new TreeMap<>();
    if (!Files.isDirectory(modelDir)) {
      return out;
    }
    try (Stream<Path> entries = Files.list(modelDir)) {
      for (Path p : entries.toList()) {
        String n = p.getFileName().toString();
        if (!n.matches("[0-9]{1,18}") || !Files.isDirectory(p)) {
          continue;
        }
        if (Files.isRegularFile(p.resolve("saved_model.pb"))
            || Files.isRegularFile(p.resolve("saved_model.pbtxt"))) {
          out.put(Long.parseLong(n), p);
        }
      }
    } catch (IOException e) {
      // a model folder removed while listing: no versions
    }
    return out;
  }

  /** Whether a version is loaded (for tests and the benchmark). */
  public boolean isLoaded(String name, long version) {
    NavigableMap<Long, Slot> slots = models.get(name);
    Slot slot = slots == null ? null : slots.get(version);
    return slot != null && slot.loaded();
  }

  private String known() {
    List<String> names = modelNames();
    return names.isEmpty()
        ? "no models under " + base
        : "models under " + base + ": " + String.join(", ", names);
  }

  private static String versionList(List<Slot> slots) {
    return slots.stream().map(s -> String.valueOf(s.version)).sorted().toList().toString();
  }

  private void pollQuietly() {
    try {
      scanAll();
    } catch (RuntimeException e) {
      log.error("scanning " + base + " failed", e);
    }
  }

  /** Stops polling and closes every loaded version (each after its last request). */
  @Override
  public void close() {
    closed = true;
    if (poller != null) {
      poller.shutdownNow();
    }
    for (NavigableMap<Long, Slot> slots : models.values()) {
      synchronized (slots) {
        slots.values().forEach(Slot::remove);
      }
    }
  }

  /** A short summary for logs: name and versions of each model. */
  public String describe() {
    List<String> parts = new ArrayList<>();
    for (String name : modelNames()) {
      parts.add(name + " " + versions(name));
    }
    return parts.isEmpty() ? "(none yet)" : String.join(", ", parts);
  }

  /** The latest version of a model on disk, if any. */
  public Optional<Long> latest(String name) {
    List<Long> v = versions(name);
    return v.isEmpty() ? Optional.empty() : Optional.of(v.get(v.size() - 1));
  }
}
