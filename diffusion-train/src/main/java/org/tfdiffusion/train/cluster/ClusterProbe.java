package org.tfdiffusion.train.cluster;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Waits, with a deadline, until the servers of a cluster's tasks accept connections.
 *
 * <p>TensorFlow's master waits for an absent worker without end when it creates a session (it logs
 * "CreateSession still waiting for response from worker" every 10 s), so the chief checks first
 * that every task listens, and fails with the tasks that do not, by name and address. A host name
 * that does not resolve yet (a Kubernetes pod that is not ready) counts as not listening yet.
 */
public final class ClusterProbe {
  /** How long one connection attempt may take. */
  private static final int CONNECT_MILLIS = 1000;

  /** The pause between rounds of attempts. */
  private static final long RETRY_MILLIS = 250;

  private ClusterProbe() {}

  /** Whether a server accepts a TCP connection at the task's address within a second. */
  public static boolean listening(ClusterSpec.Task task) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(task.host(), task.port()), CONNECT_MILLIS);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /**
   * Returns once every task listens.
   *
   * @throws IllegalStateException naming each task that did not listen within {@code deadline}
   */
  public static void awaitAll(List<ClusterSpec.Task> tasks, Duration deadline) {
    checkArgument(!deadline.isNegative(), "the deadline must not be negative");
    long end = System.nanoTime() + deadline.toNanos();
    List<ClusterSpec.Task> pending = new ArrayList<>(tasks);
    while (true) {
      pending.removeIf(ClusterProbe::listening);
      if (pending.isEmpty()) {
        return;
      }
      if (System.nanoTime() >= end) {
        throw new IllegalStateException(
            String.format(
                "%s did not start within %d s (--connect-timeout): start `train --cluster ..."
                    + " --task N` for %s, or check %s and the firewall",
                pending.stream().map(ClusterSpec.Task::describe).collect(Collectors.joining(", ")),
                deadline.toSeconds(),
                pending.size() == 1 ? "it" : "each of them",
                pending.size() == 1 ? "its address" : "their addresses"));
      }
      try {
        Thread.sleep(RETRY_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted while waiting for the cluster", e);
      }
    }
  }
}
