package org.tfdiffusion.export.serving;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The models under a base path, in TensorFlow Serving's layout: {@code BASE/NAME/VERSION/} with
 * integer versions. Folders whose name is not an integer (such as the exporter's {@code
 * .tmp-export-*}) and version folders without a {@code saved_model.pb} are ignored.
 *
 * <p>A model loads on its first request; every version on disk stays reachable by number. The
 * latest version is the default, once it has loaded: a version is served only after it loaded
 * completely (its files checked first, see {@link ServableModel#load}, and its variables restored).
 * While a model is in use, a version that appears is loaded in the background and the one before
 * keeps serving until it is ready. A failed load is retried {@link LoadRetries#maxRetries()} times,
 * {@link LoadRetries#interval()} apart (TensorFlow Serving's {@code --max_num_load_retries} and
 * {@code --load_retry_interval_micros}); meanwhile its status is LOADING with the error, then END.
 * A version that failed for good is tried again when its files change.
 *
 * <p>The base path is scanned every poll interval and a model's folder again on each request for
 * it; a version whose folder disappears is closed after its last request.
 */
public final class ModelRegistry implements AutoCloseable {
  /** A model name: a folder name that is also a URL path segment. */
  private static final String NAME = "[A-Za-z0-9][A-Za-z0-9_.-]*";

  /** The state of one version, as model status reports it (TensorFlow Serving's names). */
  public enum State {
    /** Being loaded, or waiting to retry a failed load: not served yet. */
    LOADING,
    /** Loaded, or on disk and loaded on its first request. */
    AVAILABLE,
    /** Not served: loading failed after every retry, or its folder is gone. */
    END
  }

  /** One version's status: its state, and the error of its last failed load (or OK). */
  public record VersionStatus(long version, State state, ErrorCode code, String message) {}

  /**
   * One version folder as the last scan saw it, without loading it.
   *
   * @param loaded whether it is loaded
   * @param failure the error of its last failed load, or empty
   */
  public record VersionEntry(
      long version, Path directory, State state, boolean loaded, Optional<String> failure) {}

  /**
   * How failed loads are retried, as TensorFlow Serving does.
   *
   * @param maxRetries retries after the first failure ({@code --max-num-load-retries}); 0: one
   *     attempt only
   * @param interval the wait between attempts ({@code --load-retry-interval-micros}); zero: none
   */
  public record LoadRetries(int maxRetries, Duration interval) {
    /** TensorFlow Serving's default {@code --max_num_load_retries}. */
    public static final int MAX_RETRIES = 5;

    /** TensorFlow Serving's default {@code --load_retry_interval_micros}: one minute. */
    public static final long INTERVAL_MICROS = 60_000_000L;

    /** {@link #INTERVAL_MICROS} as a duration. */
    public static final Duration INTERVAL = Duration.ofNanos(INTERVAL_MICROS * 1000);

    /**
     * @throws IllegalArgumentException for a negative count or interval
     */
    public LoadRetries {
      if (maxRetries < 0) {
        throw new IllegalArgumentException(
            "--max-num-load-retries must be at least 0, not " + maxRetries);
      }
      if (interval == null || interval.isNegative()) {
        throw new IllegalArgumentException(
            "--load-retry-interval-micros must be at least 0, not "
                + (interval == null ? "none" : interval.toNanos() / 1000));
      }
    }

    /** TensorFlow Serving's defaults: 5 retries, a minute apart. */
    public static LoadRetries defaults() {
      return new LoadRetries(MAX_RETRIES, INTERVAL);
    }
  }

  private final Path base;
  private final ServerLog log;
  private final LoadRetries retries;
  private final Map<String, NavigableMap<Long, Version>> models = new ConcurrentHashMap<>();
  private final ScheduledExecutorService timer;
  private final ExecutorService loader;
  private volatile boolean closed;

  /** One version folder: loaded on demand, retried on failure. */
  private final class Version {
    final String name;
    final long number;
    final Path dir;
    private ServableModel model;
    private CompletableFuture<ServableModel> attempt;
    private ScheduledFuture<?> retry;
    private int failures;
    private ErrorCode errorCode = ErrorCode.OK;
    private String error = "";
    private boolean gaveUp;
    private List<String> filesWhenGivenUp = List.of();
    private boolean removed;

    Version(String name, long number, Path dir) {
      this.name = name;
      this.number = number;
      this.dir = dir;
    }

    synchronized boolean loaded() {
      return model != null;
    }

    /** Never tried: not loaded, not loading, not failed. */
    synchronized boolean fresh() {
      return model == null && attempt == null && retry == null && failures == 0 && !removed;
    }

    synchronized State state() {
      if (removed || (gaveUp && model == null)) {
        return State.END;
      }
      if (model == null && (attempt != null || retry != null)) {
        return State.LOADING;
      }
      return State.AVAILABLE;
    }

    synchronized VersionStatus status() {
      State s = state();
      return s == State.AVAILABLE
          ? new VersionStatus(number, s, ErrorCode.OK, "")
          : new VersionStatus(number, s, errorCode, removed ? "its folder is gone" : error);
    }

    synchronized VersionEntry entry() {
      return new VersionEntry(
          number,
          dir,
          state(),
          model != null,
          error.isEmpty() ? Optional.empty() : Optional.of(error));
    }

    /** The loaded model, acquired for one request, or null when it is not loaded. */
    synchronized ServableModel acquireLoaded() {
      return model != null && model.acquire() ? model : null;
    }

    /**
     * The load in progress: started now when the version was never tried; null when it is loaded,
     * waiting to retry, or failed for good.
     */
    synchronized CompletableFuture<ServableModel> loading() {
      if (fresh() && !closed) {
        begin();
      }
      return attempt;
    }

    private void begin() {
      retry = null;
      attempt = new CompletableFuture<>();
      CompletableFuture<ServableModel> mine = attempt;
      try {
        loader.execute(() -> load(mine));
      } catch (java.util.concurrent.RejectedExecutionException e) {
        attempt = null;
        mine.completeExceptionally(
            new ServingException(ErrorCode.UNAVAILABLE, "the server is shutting down"));
      }
    }

    private void load(CompletableFuture<ServableModel> mine) {
      long start = System.nanoTime();
      ServableModel loadedModel = null;
      RuntimeException failure = null;
      try {
        loadedModel = ServableModel.load(name, number, dir);
      } catch (RuntimeException e) {
        failure = e;
      }
      ServableModel close = null;
      synchronized (this) {
        attempt = null;
        if (loadedModel != null && (removed || closed)) {
          close = loadedModel;
          mine.completeExceptionally(noLongerServed());
        } else if (loadedModel != null) {
          model = loadedModel;
          errorCode = ErrorCode.OK;
          error = "";
          gaveUp = false;
          mine.complete(loadedModel);
        } else {
          failed(failure, mine);
        }
      }
      if (close != null) {
        close.retire();
      } else if (loadedModel != null) {
        log.info(
            String.format(
                "loaded %s version %d in %.1f s (%s)",
                name, number, (System.nanoTime() - start) / 1e9, dir));
      }
    }

    private void failed(RuntimeException e, CompletableFuture<ServableModel> mine) {
      failures++;
      errorCode = ServableModel.loadErrorCode(e);
      error = ServableModel.loadErrorMessage(e);
      int attempts = retries.maxRetries() + 1;
      String next;
      if (failures < attempts && !removed && !closed) {
        long delay = retries.interval().toNanos();
        retry = timer.schedule(this::retryNow, delay, TimeUnit.NANOSECONDS);
        next = String.format("retrying in %s s", Durations.seconds(retries.interval()));
      } else {
        gaveUp = true;
        filesWhenGivenUp = files(dir);
        next = "giving up until its files change";
      }
      log.error(
          String.format(
              "loading %s version %d from %s failed (attempt %d of %d, %s): %s",
              name, number, dir, failures, attempts, next, error),
          null);
      mine.completeExceptionally(unavailable());
    }

    private synchronized void retryNow() {
      if (retry != null && !removed && !closed) {
        begin();
      }
    }

    /** A version that failed for good and whose files changed since: tried again from scratch. */
    synchronized boolean resetIfChanged() {
      if (!gaveUp || removed || model != null || files(dir).equals(filesWhenGivenUp)) {
        return false;
      }
      gaveUp = false;
      failures = 0;
      errorCode = ErrorCode.OK;
      error = "";
      return true;
    }

    /** Why this version cannot serve now (503), with its last error. */
    synchronized ServingException unavailable() {
      if (removed) {
        return noLongerServed();
      }
      int attempts = retries.maxRetries() + 1;
      String when =
          gaveUp
              ? String.format(
                  "after %d attempts; it is tried again when its files change", failures)
              : String.format(
                  "attempt %d of %d; the next in %s s",
                  failures, attempts, Durations.seconds(retries.interval()));
      return new ServingException(
          ErrorCode.UNAVAILABLE,
          String.format(
              "version %d of model %s failed to load (%s): %s", number, name, when, error));
    }

    ServingException noLongerServed() {
      return new ServingException(
          ErrorCode.NOT_FOUND,
          String.format("version %d of model %s is no longer served", number, name));
    }

    synchronized void remove() {
      removed = true;
      if (retry != null) {
        retry.cancel(false);
        retry = null;
      }
      if (model != null) {
        model.retire();
        model = null;
      }
    }
  }

  /**
   * @param base the folder that holds one folder per model
   * @param poll how often to rescan {@code base}; zero or negative: only on request
   * @param retries how failed loads are retried
   */
  public ModelRegistry(Path base, Duration poll, LoadRetries retries, ServerLog log) {
    this.base = base;
    this.log = log;
    this.retries = retries;
    this.timer =
        Executors.newSingleThreadScheduledExecutor(
            r -> {
              Thread t = new Thread(r, "serve-poll");
              t.setDaemon(true);
              return t;
            });
    this.loader =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "serve-load");
              t.setDaemon(true);
              return t;
            });
    scanAll();
    if (!poll.isNegative() && !poll.isZero()) {
      timer.scheduleWithFixedDelay(
          this::pollQuietly, poll.toMillis(), poll.toMillis(), TimeUnit.MILLISECONDS);
    }
  }

  /** With TensorFlow Serving's load retries ({@link LoadRetries#defaults()}). */
  public ModelRegistry(Path base, Duration poll, ServerLog log) {
    this(base, poll, LoadRetries.defaults(), log);
  }

  public Path base() {
    return base;
  }

  /** How failed loads are retried. */
  public LoadRetries retries() {
    return retries;
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
    NavigableMap<Long, Version> versions = models.get(name);
    if (versions == null) {
      return List.of();
    }
    synchronized (versions) {
      return List.copyOf(versions.keySet());
    }
  }

  private List<Version> newestFirst(String name) {
    NavigableMap<Long, Version> versions = models.get(name);
    if (versions == null) {
      return List.of();
    }
    synchronized (versions) {
      return new ArrayList<>(versions.descendingMap().values());
    }
  }

  /**
   * The versions of a model as of the last scan, newest first, without loading any (for the model
   * list, {@code GET /v1/models}).
   */
  public List<VersionEntry> entries(String name) {
    return newestFirst(name).stream().map(Version::entry).toList();
  }

  /**
   * The version a request without a version number gets now, without loading anything: the newest
   * loaded one, else the newest that may still load.
   */
  public OptionalLong defaultVersion(String name) {
    List<Version> versions = newestFirst(name);
    for (Version v : versions) {
      if (v.loaded()) {
        return OptionalLong.of(v.number);
      }
    }
    for (Version v : versions) {
      if (v.state() == State.AVAILABLE) {
        return OptionalLong.of(v.number);
      }
    }
    return OptionalLong.empty();
  }

  /**
   * The model version for a request, acquired: the caller must {@link ServableModel#release} it.
   *
   * @param version a version number, or empty for the default: the newest loaded version (a newer
   *     one loads in the background meanwhile), or, when none is loaded yet, the newest that loads
   * @throws ServingException 404 for an unknown model or version, 503 for a version that is not
   *     loaded and failed to load
   */
  public ServableModel acquire(String name, OptionalLong version) {
    scan(name);
    List<Version> candidates = newestFirst(name);
    if (candidates.isEmpty()) {
      throw ServingException.notFound(
          "Servable not found for request: %s; %s",
          version.isPresent()
              ? "Specific(" + name + ", " + version.getAsLong() + ")"
              : "Latest(" + name + ")",
          known());
    }
    if (version.isPresent()) {
      for (Version v : candidates) {
        if (v.number == version.getAsLong()) {
          return acquireWaiting(v);
        }
      }
      throw ServingException.notFound(
          "Servable not found for request: Specific(%s, %d); model %s has versions %s",
          name, version.getAsLong(), name, versionList(candidates));
    }
    boolean anyLoaded = candidates.stream().anyMatch(Version::loaded);
    ServingException last = null;
    for (Version v : candidates) {
      ServableModel m = v.acquireLoaded();
      if (m != null) {
        return m;
      }
      if (anyLoaded) {
        v.loading(); // a newer version: loads in the background, an older one serves meanwhile
        continue;
      }
      try {
        return acquireWaiting(v);
      } catch (ServingException e) {
        last = e; // not loadable now: fall back to the version before, as TF Serving does
      }
    }
    if (last != null) {
      throw last;
    }
    throw candidates.get(0).unavailable();
  }

  /** A version, loaded first if need be (waiting for a load in progress). */
  private ServableModel acquireWaiting(Version v) {
    ServableModel m = v.acquireLoaded();
    if (m != null) {
      return m;
    }
    CompletableFuture<ServableModel> loading = v.loading();
    if (loading != null) {
      try {
        loading.join();
      } catch (CompletionException e) {
        if (e.getCause() instanceof ServingException s) {
          throw s;
        }
        throw e;
      }
      m = v.acquireLoaded();
      if (m != null) {
        return m;
      }
    }
    throw v.unavailable();
  }

  /**
   * The status of the versions of a model, newest first. When none is loaded yet, loads the default
   * first, as a request would.
   */
  public List<VersionStatus> status(String name, OptionalLong version) {
    ServableModel model = null;
    try {
      model = acquire(name, version);
    } catch (ServingException e) {
      if (e.code() == ErrorCode.NOT_FOUND) {
        throw e;
      }
      // a version that is not available: its status says why
    } finally {
      if (model != null) {
        model.release();
      }
    }
    List<VersionStatus> out = new ArrayList<>();
    for (Version v : newestFirst(name)) {
      if (version.isEmpty() || v.number == version.getAsLong()) {
        out.add(v.status());
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

  /**
   * Rescans one model's folder: adds new versions (loading them at once while the model is in use),
   * retires versions whose folder is gone, and gives versions that failed for good another chance
   * when their files changed.
   */
  public void scan(String name) {
    if (closed || !name.matches(NAME)) {
      return;
    }
    Map<Long, Path> onDisk = versionFolders(base.resolve(name));
    NavigableMap<Long, Version> versions = models.get(name);
    if (versions == null) {
      if (onDisk.isEmpty()) {
        return;
      }
      versions =
          models.computeIfAbsent(name, n -> Collections.synchronizedNavigableMap(new TreeMap<>()));
    }
    List<Version> current;
    synchronized (versions) {
      for (Map.Entry<Long, Path> v : onDisk.entrySet()) {
        if (!versions.containsKey(v.getKey())) {
          versions.put(v.getKey(), new Version(name, v.getKey(), v.getValue()));
          log.info("found " + name + " version " + v.getKey() + " (" + v.getValue() + ")");
        }
      }
      for (Long v : List.copyOf(versions.keySet())) {
        if (!onDisk.containsKey(v)) {
          versions.remove(v).remove();
          log.info(name + " version " + v + " is gone from disk; no longer served");
        }
      }
      current = new ArrayList<>(versions.descendingMap().values());
    }
    boolean inUse = current.stream().anyMatch(Version::loaded);
    for (Version v : current) {
      if (v.resetIfChanged()) {
        log.info(name + " version " + v.number + " changed on disk; loading it again");
      }
      if (inUse && v.number > newestLoaded(current)) {
        v.loading();
      }
    }
  }

  private static long newestLoaded(List<Version> newestFirst) {
    for (Version v : newestFirst) {
      if (v.loaded()) {
        return v.number;
      }
    }
    return Long.MIN_VALUE;
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
        if (Files.isRegularFile(p.resolve(ServableModel.SAVED_MODEL_PB))
            || Files.isRegularFile(p.resolve(ServableModel.SAVED_MODEL_PBTXT))) {
          out.put(Long.parseLong(n), p);
        }
      }
    } catch (IOException e) {
      // a model folder removed while listing: no versions
    }
    return out;
  }

  /** Every file of a version folder with its size and time, to notice that it changed. */
  private static List<String> files(Path dir) {
    try (Stream<Path> walk = Files.walk(dir)) {
      List<String> out = new ArrayList<>();
      for (Path p : walk.toList()) {
        BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
        out.add(dir.relativize(p) + " " + a.size() + " " + a.lastModifiedTime().toMillis());
      }
      Collections.sort(out);
      return out;
    } catch (IOException | java.io.UncheckedIOException e) {
      return List.of();
    }
  }

  /** Whether a version is loaded (for tests and the benchmark). */
  public boolean isLoaded(String name, long version) {
    NavigableMap<Long, Version> versions = models.get(name);
    Version v = versions == null ? null : versions.get(version);
    return v != null && v.loaded();
  }

  private String known() {
    List<String> names = modelNames();
    return names.isEmpty()
        ? "no models under " + base
        : "models under " + base + ": " + String.join(", ", names);
  }

  private static String versionList(List<Version> versions) {
    return versions.stream().map(v -> v.number).sorted().toList().toString();
  }

  private void pollQuietly() {
    try {
      scanAll();
    } catch (RuntimeException e) {
      log.error("scanning " + base + " failed", e);
    }
  }

  /** Stops polling and loading, and closes every loaded version (each after its last request). */
  @Override
  public void close() {
    closed = true;
    timer.shutdownNow();
    loader.shutdownNow();
    for (NavigableMap<Long, Version> versions : models.values()) {
      synchronized (versions) {
        versions.values().forEach(Version::remove);
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
