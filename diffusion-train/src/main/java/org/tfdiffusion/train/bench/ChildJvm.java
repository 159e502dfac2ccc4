package org.tfdiffusion.train.bench;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that runs a main class in a new JVM like this one: the same {@code java}, the
 * same JVM options (heap, stack size, system properties; a debugger agent is left out, its port
 * would clash) and the same class path. Benchmarks run each measurement in a child so that its peak
 * memory is its own; without this the child ran with the JVM's defaults whatever the launcher or
 * {@code TFDIFFUSION_JAVA_OPTS} set.
 */
public final class ChildJvm {
  private ChildJvm() {}

  /** {@code java <this JVM's options> [-Xss64m if none] -cp <class path> mainClass}. */
  public static List<String> command(Class<?> mainClass) {
    return command(mainClass, System.getProperty("java.class.path"));
  }

  /** As {@link #command(Class)} with the given class path. */
  public static List<String> command(Class<?> mainClass, String classPath) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> options = jvmOptions(ManagementFactory.getRuntimeMXBean().getInputArguments());
    command.addAll(options);
    if (options.stream().noneMatch(o -> o.startsWith("-Xss"))) {
      // the compiled sampling loop nests TensorFlow's While iterations on the calling thread
      command.add("-Xss64m");
    }
    command.add("-cp");
    command.add(classPath);
    command.add(mainClass.getName());
    return command;
  }

  /** The options worth passing on: all but debugger and profiler agents. */
  static List<String> jvmOptions(List<String> inputArguments) {
    return inputArguments.stream()
        .filter(a -> !a.startsWith("-agentlib:") && !a.startsWith("-Xrunjdwp"))
        .filter(a -> !a.startsWith("-javaagent:") && !a.startsWith("-agentpath:"))
        .toList();
  }
}
