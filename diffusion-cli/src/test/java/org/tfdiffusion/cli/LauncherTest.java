package org.tfdiffusion.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code ./tfdiffusion} launcher and the JVM it starts: signals reach the JVM, the JVM ends
 * with the launcher, and the copied class path lives exactly as long as the JVM. The launcher runs
 * from a copy of the project's layout whose "build" is a stand-in main class that reports its
 * process id and class path, then sleeps.
 */
class LauncherTest {
  @TempDir Path temp;

  private Path root;
  private Path tmp;

  private static final long WAIT_SECONDS = 30;

  /** The stand-in for org.tfdiffusion.cli.Main. */
  private static final String MAIN =
      """
      package org.tfdiffusion.cli;
      import java.nio.file.*;
      public final class Main {
        public static void main(String[] args) throws Exception {
          if (args[0].equals("--print-native")) {
            System.out.print(System.getenv("TFDIFFUSION_NATIVE_CONV"));
            return;
          }
          if (args[args.length - 1].equals("--print-malloc")) {
            System.out.print(System.getenv("GLIBC_TUNABLES"));
            return;
          }
          if (args[0].equals("--print-xla")) {
            System.out.println(System.getenv("TF_XLA_FLAGS"));
            System.out.println(System.getenv("TFDIFFUSION_XLA_CACHE_KEPT"));
            String run = System.getenv("TFDIFFUSION_XLA_CACHE_RUN");
            System.out.println(run);
            if (run != null) {
              try (var files = Files.list(Path.of(run))) {
                files.map(p -> p.getFileName().toString()).sorted().forEach(System.out::println);
              }
            }
            return;
          }
          if (args[0].equals("--print-logs")) {
            System.out.println("the program's own output");
            System.err.print("WARNING: All log messages before absl::InitializeLog() is called"
                + " are written to STDERR\\n"
                + "I0000 00:00:1796409953.197064   12193 mlir_graph_optimization_pass.cc:401]"
                + " MLIR V1 optimization pass is not enabled\\n"
                + "a line of the program\\n"
                + "W0000 00:00:1796409953.997356   12252 some_op.cc:12] a native warning\\n"
                + "I0000 00:00:1796409954.033217   12252 device_compiler.h:188] Compiled cluster"
                + " using XLA!\\n"
                + "E0000 00:00:1796409954.033217   12252 some_op.cc:34] a native error\\n"
                + "[libprotobuf ERROR external/com_google_protobuf/src/google/protobuf/"
                + "text_format.cc:337] Error parsing text-format tensorflow.XlaSerializedCacheEntry:"
                + " 2:1: Expected identifier, got: 6\\n"
                + "[libprotobuf ERROR text_format.cc:337] Error parsing text-format other.Proto\\n"
                + "Image 1 of 2\\rImage 2 of 2\\n"
                + "\\0tfdiffusion: end of output\\0"
                + "written after the end mark\\n");
            System.err.flush();
            return;
          }
          Path report = Path.of(args[0]);
          Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
              Files.writeString(report.resolveSibling(report.getFileName() + ".stopped"), "hook");
            } catch (Exception e) {
              throw new RuntimeException(e);
            }
          }));
          Files.writeString(report, ProcessHandle.current().pid() + "\\n"
              + System.getProperty("java.class.path"));
          Thread.sleep(Long.MAX_VALUE);
        }
      }
      """;

  @BeforeEach
  void layOutAProject() throws IOException {
    root = Files.createDirectories(temp.resolve("project"));
    tmp = Files.createDirectories(temp.resolve("tmp"));
    Files.copy(Path.of("..", "tfdiffusion").toAbsolutePath(), root.resolve("tfdiffusion"));
    Path target = Files.createDirectories(root.resolve("diffusion-cli/target"));
    Path classes = Files.createDirectories(target.resolve("classes"));
    Path lib = Files.createDirectories(root.resolve("diffusion-core/target/classes"));
    Files.writeString(lib.resolve("marker.txt"), "a project entry, copied per run");
    Files.writeString(target.resolve("launcher.classpath"), lib.toString());
    Path source = Files.createDirectories(temp.resolve("src/org/tfdiffusion/cli"));
    Files.writeString(source.resolve("Main.java"), MAIN);
    JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
    assertThat(
            javac.run(
                null, null, null, "-d", classes.toString(), source.resolve("Main.java").toString()))
        .isZero();
    Path stamp = Files.writeString(target.resolve(".launcher-built"), "");
    Files.setLastModifiedTime(stamp, FileTime.from(Instant.now().plusSeconds(60)));
  }

  private Process launch(Path report) throws IOException {
    ProcessBuilder builder =
        new ProcessBuilder("bash", root.resolve("tfdiffusion").toString(), report.toString())
            .redirectErrorStream(true)
            .redirectOutput(temp.resolve(report.getFileName() + ".log").toFile());
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("TFDIFFUSION_JAVA_OPTS", "-Xmx32m -XX:+UseSerialGC");
    return builder.start();
  }

  /** The JVM's report: its process id and class path. */
  private static List<String> awaitReport(Path report, Process launcher) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (System.nanoTime() < deadline && launcher.isAlive()) {
      if (Files.exists(report) && Files.readString(report).contains("\n")) {
        return Files.readString(report).lines().toList();
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the JVM did not start: " + launcher.info());
  }

  private List<Path> snapshots() throws IOException {
    try (Stream<Path> entries = Files.list(tmp)) {
      return entries
          .filter(p -> p.getFileName().toString().startsWith("tfdiffusion-run-"))
          .toList();
    }
  }

  private void awaitNoSnapshot() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS);
    while (!snapshots().isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(snapshots()).as("the class-path copy outlives its JVM").isEmpty();
  }

  /** Runs the stand-in with {@code args}; its stderr as the launcher passes it on. */
  private String stderrOf(String... args) throws Exception {
    List<String> command =
        new java.util.ArrayList<>(List.of("bash", root.resolve("tfdiffusion").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder =
        new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("TFDIFFUSION_JAVA_OPTS", "-Xmx32m -XX:+UseSerialGC");
    builder.environment().remove("TF_CPP_MIN_LOG_LEVEL");
    Process launcher = builder.start();
    try {
      // read to the end: the end of the filter's output, not only of the JVM
      String stderr = new String(launcher.getErrorStream().readAllBytes(), UTF_8);
      assertThat(launcher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
      return stderr;
    } finally {
      launcher.destroyForcibly();
    }
  }

  @Test
  void tensorFlowsNativeInfoLinesAreDroppedUnlessVerbose() throws Exception {
    assertThat(stderrOf("--print-logs"))
        .isEqualTo(
            "a line of the program\n"
                + "W0000 00:00:1796409953.997356   12252 some_op.cc:12] a native warning\n"
                + "E0000 00:00:1796409954.033217   12252 some_op.cc:34] a native error\n"
                + "[libprotobuf ERROR text_format.cc:337] Error parsing text-format other.Proto\n"
                + "Image 1 of 2\rImage 2 of 2\n");
    assertThat(stderrOf("--print-logs", "--verbose"))
        .startsWith("WARNING: All log messages before absl::InitializeLog()")
        .contains("MLIR V1 optimization pass", "Compiled cluster using XLA!", "a native error")
        .contains("tensorflow.XlaSerializedCacheEntry")
        .contains("written after the end mark");
  }

  @Test
  void theOneDnnOpsAreBuiltOnceWhenTheirToolsAppearAfterTheBuild() throws Exception {
    Path build = Files.createDirectories(root.resolve("diffusion-core/src/main/native"));
    Files.writeString(
        build.resolve("build.sh"), "mkdir -p \"$1\"; echo ops > \"$1/libtfdconv.so\"\n");
    Path bin = Files.createDirectories(temp.resolve("bin"));
    Path gxx = Files.writeString(bin.resolve("g++"), "#!/bin/sh\nexit 0\n");
    assertThat(gxx.toFile().setExecutable(true)).isTrue();
    List<String> first = outputs(bin, "--print-native");
    assertThat(root.resolve("diffusion-core/target/native/libtfdconv.so")).hasContent("ops");
    assertThat(first.get(1)).contains("building oneDNN's convolution ops");
    assertThat(Path.of(first.get(0))).startsWith(tmp).hasFileName("libtfdconv.so");
    assertThat(outputs(bin, "--print-native").get(1)).as("built once").isEmpty();
  }

  /** The stand-in's stdout and stderr, with {@code bin} first on the PATH. */
  private List<String> outputs(Path bin, String... args) throws Exception {
    List<String> command =
        new java.util.ArrayList<>(List.of("bash", root.resolve("tfdiffusion").toString()));
    command.addAll(List.of(args));
    ProcessBuilder builder = new ProcessBuilder(command);
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("TFDIFFUSION_JAVA_OPTS", "-Xmx32m -XX:+UseSerialGC");
    builder.environment().remove("TFDIFFUSION_NATIVE_CONV");
    builder.environment().put("PATH", bin + ":" + System.getenv("PATH"));
    Process launcher = builder.start();
    try {
      java.util.concurrent.CompletableFuture<byte[]> stderr =
          java.util.concurrent.CompletableFuture.supplyAsync(
              () -> {
                try {
                  return launcher.getErrorStream().readAllBytes();
                } catch (IOException e) {
                  throw new java.io.UncheckedIOException(e);
                }
              });
      String stdout = new String(launcher.getInputStream().readAllBytes(), UTF_8);
      assertThat(launcher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
      return List.of(stdout, new String(stderr.get(), UTF_8));
    } finally {
      launcher.destroyForcibly();
    }
  }

  /** The stand-in's --print-xla report, run with {@code environment} added. */
  private List<String> xlaReport(Map<String, String> environment) throws Exception {
    ProcessBuilder builder =
        new ProcessBuilder("bash", root.resolve("tfdiffusion").toString(), "--print-xla")
            .redirectError(ProcessBuilder.Redirect.DISCARD);
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("TFDIFFUSION_JAVA_OPTS", "-Xmx32m -XX:+UseSerialGC");
    builder.environment().remove("TF_XLA_FLAGS");
    builder.environment().putAll(environment);
    Process launcher = builder.start();
    try {
      String stdout = new String(launcher.getInputStream().readAllBytes(), UTF_8);
      assertThat(launcher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
      return stdout.lines().toList();
    } finally {
      launcher.destroyForcibly();
    }
  }

  @Test
  void xlaReadsAndWritesItsClustersInTheRunsCopyOfTheKeptOnes() throws Exception {
    Path cache = temp.resolve("xla-cache");
    Map<String, String> cached = Map.of("TFDIFFUSION_XLA_CACHE", cache.toString());
    List<String> first = xlaReport(cached);
    Path kept = Path.of(first.get(1));
    Path run = Path.of(first.get(2));
    assertThat(kept.getParent()).isEqualTo(cache);
    assertThat(run).startsWith(tmp);
    assertThat(first.get(0))
        .isEqualTo("--tf_xla_cpu_global_jit --tf_xla_persistent_cache_directory=" + run);
    assertThat(first).hasSize(3); // nothing kept yet

    Files.createDirectories(kept);
    Files.writeString(kept.resolve("a__1__XLA_CPU_JIT.pb"), "an entry");
    Files.writeString(kept.resolve(".partial-12-b__2__XLA_CPU_JIT.pb"), "being kept");
    List<String> second = xlaReport(cached);
    assertThat(second.get(1))
        .as("the same key for the same CPU and flags")
        .isEqualTo(kept.toString());
    assertThat(second.subList(3, second.size())).containsExactly("a__1__XLA_CPU_JIT.pb");

    List<String> otherFlags =
        xlaReport(
            Map.of(
                "TFDIFFUSION_XLA_CACHE",
                cache.toString(),
                "XLA_FLAGS",
                "--xla_cpu_enable_fast_math=false"));
    assertThat(otherFlags.get(1))
        .as("other XLA options, another folder")
        .isNotEqualTo(kept.toString());

    assertThat(xlaReport(Map.of("TFDIFFUSION_XLA_CACHE", "")))
        .as("an empty TFDIFFUSION_XLA_CACHE turns the cache off")
        .containsExactly("--tf_xla_cpu_global_jit", "null", "null");
    String own = "--tf_xla_persistent_cache_directory=/somewhere/else";
    assertThat(xlaReport(Map.of("TF_XLA_FLAGS", own, "TFDIFFUSION_XLA_CACHE", cache.toString())))
        .as("the user's own persistent cache stays theirs")
        .containsExactly(own, "null", "null");
  }

  /** The GLIBC_TUNABLES the stand-in gets for {@code args}, with {@code environment} added. */
  private String mallocOf(Map<String, String> environment, String... args) throws Exception {
    List<String> command =
        new java.util.ArrayList<>(List.of("bash", root.resolve("tfdiffusion").toString()));
    command.addAll(List.of(args));
    command.add("--print-malloc");
    ProcessBuilder builder =
        new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD);
    builder.environment().put("TMPDIR", tmp.toString());
    builder.environment().put("TFDIFFUSION_JAVA_OPTS", "-Xmx32m -XX:+UseSerialGC");
    builder.environment().remove("GLIBC_TUNABLES");
    builder.environment().putAll(environment);
    Process launcher = builder.start();
    try {
      String stdout = new String(launcher.getInputStream().readAllBytes(), UTF_8);
      assertThat(launcher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
      return stdout;
    } finally {
      launcher.destroyForcibly();
    }
  }

  @Test
  void theSamplingCommandsGetHugePagesAndTrainingDoesNot() throws Exception {
    String base =
        "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184"
            + ":glibc.malloc.arena_max=1";
    for (String sampling : List.of("sample", "eval", "export", "serve", "forward")) {
      assertThat(mallocOf(Map.of(), sampling))
          .as(sampling)
          .isEqualTo(base + ":glibc.malloc.hugetlb=1");
    }
    assertThat(mallocOf(Map.of(), "--verbose", "sample"))
        .isEqualTo(base + ":glibc.malloc.hugetlb=1");
    for (String training : List.of("train", "demo", "finetune", "distill", "bench")) {
      assertThat(mallocOf(Map.of(), training)).as(training).isEqualTo(base);
    }
    assertThat(mallocOf(Map.of(), "train", "sample")).as("only the command counts").isEqualTo(base);
    assertThat(mallocOf(Map.of("GLIBC_TUNABLES", "glibc.malloc.arena_max=2"), "sample"))
        .as("the user's own settings")
        .isEqualTo("glibc.malloc.arena_max=2");
  }

  @Test
  void sigtermToTheLauncherReachesTheJvmAndTheClassPathCopyGoesWithIt() throws Exception {
    Path report = temp.resolve("term");
    Process launcher = launch(report);
    try {
      stopsWithItsJvm(report, launcher);
    } finally {
      launcher.destroyForcibly();
    }
  }

  private void stopsWithItsJvm(Path report, Process launcher) throws Exception {
    List<String> lines = awaitReport(report, launcher);
    assertThat(Long.parseLong(lines.get(0)))
        .as("the launcher is the JVM")
        .isEqualTo(launcher.pid());
    List<Path> classPath = Arrays.stream(lines.get(1).split(":")).map(Path::of).toList();
    assertThat(classPath).allSatisfy(p -> assertThat(p).startsWith(tmp).exists());
    Thread.sleep(2500); // past the watcher's first poll: the copy stays while the JVM lives
    assertThat(classPath).allSatisfy(p -> assertThat(p).exists());

    launcher.destroy(); // SIGTERM to the launcher's process
    assertThat(launcher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
    assertThat(launcher.exitValue()).isEqualTo(128 + 15);
    assertThat(report.resolveSibling("term.stopped")).as("the JVM's shutdown hooks ran").exists();
    assertThat(ProcessHandle.of(launcher.pid()).map(ProcessHandle::isAlive))
        .isNotEqualTo(java.util.Optional.of(true));
    awaitNoSnapshot();
  }

  @Test
  void killingTheLauncherKillsTheJvmAndACopyLeftByADeadJvmIsRemovedByTheNextLaunch()
      throws Exception {
    Path report = temp.resolve("kill");
    Process launcher = launch(report);
    try {
      awaitReport(report, launcher);
    } finally {
      launcher.destroyForcibly(); // SIGKILL: nothing of the launcher can react
    }
    assertThat(launcher.waitFor(WAIT_SECONDS, TimeUnit.SECONDS)).isTrue();
    assertThat(ProcessHandle.allProcesses())
        .as("no JVM of the killed launcher is left")
        .noneMatch(
            p ->
                p.info().command().orElse("").endsWith("/java")
                    && p.info()
                        .arguments()
                        .map(a -> Arrays.asList(a).contains(report.toString()))
                        .orElse(false));
    awaitNoSnapshot();

    // copies of processes that are gone are removed; a live one's and foreign names are kept
    Path dead = Files.createDirectories(tmp.resolve("tfdiffusion-run-pid999999999-abcdef"));
    Path live =
        Files.createDirectories(
            tmp.resolve("tfdiffusion-run-pid" + ProcessHandle.current().pid() + "-abcdef"));
    Path other = Files.createDirectories(tmp.resolve("tfdiffusion-run-123456"));
    Path next = temp.resolve("next");
    Process second = launch(next);
    try {
      awaitReport(next, second);
      assertThat(dead).doesNotExist();
      assertThat(live).exists();
      assertThat(other).exists();
    } finally {
      second.destroyForcibly().waitFor();
    }
  }
}
