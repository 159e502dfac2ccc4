package org.tfdiffusion.export.serving;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;

/**
 * Kubernetes' probes: liveness ({@link #LIVENESS_PATH}) and readiness ({@link #READINESS_PATH}).
 */
final class Probes {
  /** Liveness for Kubernetes: 200 while the server answers at all. */
  static final String LIVENESS_PATH = "/healthz";

  /** Readiness for Kubernetes: 200 once every model's default version is loaded. */
  static final String READINESS_PATH = "/readyz";

  private final ModelRegistry registry;
  private final Executor background;
  private final ServerLog log;
  private final Set<String> warming = ConcurrentHashMap.newKeySet();

  /**
   * @param background where default versions that are not loaded yet load
   */
  Probes(ModelRegistry registry, Executor background, ServerLog log) {
    this.registry = registry;
    this.background = background;
    this.log = log;
  }

  /** {@code {"status": "alive"}}. */
  HttpReply liveness() {
    return HttpReply.json(RestServer.jsonObject(g -> g.writeStringField("status", "alive")));
  }

  /**
   * Readiness: 200 once every model has a version that can serve and its default version is loaded;
   * 503 naming what is missing otherwise. A default version that is not loaded yet starts loading
   * in the background, so that probing warms the server.
   */
  HttpReply readiness() {
    registry.scanAll();
    List<String> names = registry.modelNames();
    if (names.isEmpty()) {
      return HttpReply.error(
          ErrorCode.UNAVAILABLE, "not ready: no models under " + registry.base() + " yet");
    }
    List<String> waiting = new ArrayList<>();
    for (String name : names) {
      OptionalLong v = registry.defaultVersion(name);
      if (v.isEmpty()) {
        waiting.add(name + " (no version can load; see GET /v1/models/" + name + ")");
      } else if (!registry.isLoaded(name, v.getAsLong())) {
        waiting.add(name + " version " + v.getAsLong() + " (loading)");
        warm(name);
      }
    }
    if (!waiting.isEmpty()) {
      return HttpReply.error(
          ErrorCode.UNAVAILABLE, "not ready: waiting for " + String.join(", ", waiting));
    }
    return HttpReply.json(
        RestServer.jsonObject(
            g -> {
              g.writeStringField("status", "ready");
              g.writeArrayFieldStart("models");
              for (String name : names) {
                g.writeString(name);
              }
              g.writeEndArray();
            }));
  }

  /** Loads a model's default version in the background, once at a time per model. */
  private void warm(String name) {
    if (!warming.add(name)) {
      return;
    }
    try {
      background.execute(
          () -> {
            try {
              registry.acquire(name, OptionalLong.empty()).release();
            } catch (RuntimeException e) {
              log.info("warming model " + name + ": " + e.getMessage());
            } finally {
              warming.remove(name);
            }
          });
    } catch (RejectedExecutionException e) {
      warming.remove(name);
    }
  }
}
