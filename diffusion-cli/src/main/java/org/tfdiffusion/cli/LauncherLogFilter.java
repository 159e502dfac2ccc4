package org.tfdiffusion.cli;

import java.io.PrintStream;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The end of the launcher's stderr filter, which drops TensorFlow's native info lines unless {@code
 * --verbose} is given. The filter reads this process's stderr through a pipe; at the end of a
 * command this process writes {@link #END_MARK} and waits for the filter to end, so that all of its
 * output is written before the shell prints its prompt.
 */
final class LauncherLogFilter {
  /** The environment variable in which the launcher names its filter's process id. */
  static final String PID_VARIABLE = "TFDIFFUSION_LOG_FILTER_PID";

  /** What the filter takes as the end of its input (never part of a log line). */
  static final String END_MARK = "\0tfdiffusion: end of output\0";

  /** The longest wait for the filter. */
  static final Duration WAIT = Duration.ofSeconds(2);

  private LauncherLogFilter() {}

  /**
   * Writes the end mark to {@code err} and waits for the filter named in {@code environment}, if it
   * is a child of this process (a JVM started by this one inherits the variable but not the
   * filter). Does nothing without one.
   *
   * @return whether a filter was found and has ended
   */
  static boolean finish(Map<String, String> environment, PrintStream err) {
    Optional<ProcessHandle> filter = filterOf(environment);
    if (filter.isEmpty()) {
      return false;
    }
    err.flush();
    err.print(END_MARK);
    err.flush();
    try {
      filter.get().onExit().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    } catch (ExecutionException | TimeoutException e) {
      return false;
    }
  }

  /** The filter process: the child of this process whose id the environment names. */
  static Optional<ProcessHandle> filterOf(Map<String, String> environment) {
    String pid = environment.get(PID_VARIABLE);
    if (pid == null || !pid.matches("[0-9]{1,18}")) {
      return Optional.empty();
    }
    long id = Long.parseLong(pid);
    return ProcessHandle.current().children().filter(child -> child.pid() == id).findFirst();
  }
}
