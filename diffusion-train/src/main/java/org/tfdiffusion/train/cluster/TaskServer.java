package org.tfdiffusion.train.cluster;

import java.io.PrintWriter;
import java.time.Duration;
import org.tensorflow.Server;

/**
 * The TensorFlow server of this process's task ({@link org.tensorflow.Server} from the cluster
 * spec), listening on every interface at the task's port.
 *
 * <p>A gRPC server of TensorFlow 2.18 cannot be stopped ({@code TF_ServerStop} answers
 * "Unimplemented"), so a server lives as long as its process: the chief's ends when training ends,
 * and a worker's when its process exits, which {@link #serve} does once the chief has gone.
 */
public final class TaskServer {
  /** How often a worker checks that the chief is still there. */
  private static final Duration CHIEF_CHECK = Duration.ofSeconds(2);

  private final ClusterSpec cluster;
  private final Server server;

  private TaskServer(ClusterSpec cluster, Server server) {
    this.cluster = cluster;
    this.server = server;
  }

  /**
   * Starts the server of {@code cluster.task()}.
   *
   * @throws IllegalStateException if it cannot start (for example, its port is taken)
   */
  public static TaskServer start(ClusterSpec cluster) {
    Server server;
    try {
      server = new Server(cluster.serverDef());
      server.start();
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          "cannot start the TensorFlow server of "
              + cluster.task().describe()
              + ": "
              + e.getMessage()
              + " (is port "
              + cluster.task().port()
              + " in use by another process?)",
          e);
    }
    return new TaskServer(cluster, server);
  }

  /** The cluster this server belongs to. */
  public ClusterSpec cluster() {
    return cluster;
  }

  /**
   * A worker's life: serves the chief's graphs until the chief has been unreachable for {@code
   * grace} after having been seen, then returns (so that the process can exit). Before the chief
   * first appears it waits without end, as a TensorFlow server does.
   */
  public void serve(PrintWriter out, Duration grace) {
    ClusterSpec.Task chief = cluster.chief();
    out.printf(
        "worker %s of %d serving; the chief is %s. This process exits once the chief has gone.%n",
        cluster.task().describe(), cluster.size(), chief.describe());
    out.flush();
    boolean seen = false;
    long lastSeen = 0;
    while (true) {
      long now = System.nanoTime();
      if (ClusterProbe.listening(chief)) {
        seen = true;
        lastSeen = now;
      } else if (seen && now - lastSeen > grace.toNanos()) {
        out.printf(
            "the chief %s has not answered for %d s: worker %s exits%n",
            chief.describe(), grace.toSeconds(), cluster.task().describe());
        out.flush();
        return;
      }
      try {
        Thread.sleep(CHIEF_CHECK.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** The underlying server (it cannot be stopped; see the class comment). */
  Server server() {
    return server;
  }
}
