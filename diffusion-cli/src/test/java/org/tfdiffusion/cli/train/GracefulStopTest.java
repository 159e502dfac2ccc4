package org.tfdiffusion.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.train.GracefulStop;
import org.tfdiffusion.train.bench.ChildJvm;

class GracefulStopTest {
  @TempDir Path temp;

  @Test
  void theWaitEndsWithTheCheckpointAndTheLoopNotWithTheirTimeouts() {
    GracefulStop stop = new GracefulStop();
    stop.checkpointSaved();
    assertThat(stop.requestAndAwait(Duration.ofMinutes(1), Duration.ofMillis(50)))
        .isEqualTo(GracefulStop.Ending.SAVED);
    assertThat(stop.requested()).isTrue();
    stop.finished();
    long start = System.nanoTime();
    assertThat(stop.requestAndAwait(Duration.ofMinutes(1), Duration.ofMinutes(1)))
        .isEqualTo(GracefulStop.Ending.FINISHED);
    assertThat(System.nanoTime() - start).isLessThan(TimeUnit.SECONDS.toNanos(1));
    assertThat(new GracefulStop().requestAndAwait(Duration.ofMillis(50), Duration.ofMinutes(1)))
        .isEqualTo(GracefulStop.Ending.NOT_SAVED);
  }

  /**
   * SIGTERM to a {@code train} process that ends with {@code System.exit}, as the launcher's does:
   * it saves a checkpoint, says so and exits within seconds, not after the whole 120 s wait.
   */
  @Test
  void sigtermSavesACheckpointAndExitsPromptly() throws Exception {
    Path run = temp.resolve("run");
    Path log = temp.resolve("train.log");
    List<String> command = new ArrayList<>(ChildJvm.command(ExitingTrain.class));
    command.addAll(
        List.of(
            "--steps",
            "100000",
            "--base-width",
            "8",
            "--levels",
            "2",
            "--batch-size",
            "4",
            "--no-xla",
            "--progress",
            "lines",
            "--log-every",
            "1",
            "--sample-every",
            "0",
            "--sample-count",
            "1",
            "--sampler-steps",
            "2",
            "--run-dir",
            run.toString()));
    Process process =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
      while (System.nanoTime() < deadline
          && process.isAlive()
          && !(Files.exists(log) && Files.readString(log).contains("step 1/100000"))) {
        Thread.sleep(100);
      }
      assertThat(Files.readString(log)).contains("step 1/100000");

      long signalled = System.nanoTime();
      process.destroy(); // SIGTERM
      assertThat(process.waitFor(100, TimeUnit.SECONDS)).as(Files.readString(log)).isTrue();
      double seconds = (System.nanoTime() - signalled) / 1e9;

      String output = Files.readString(log);
      assertThat(seconds).as(output).isLessThan(60);
      assertThat(output).contains("stopped at step").doesNotContain("\tat ");
      List<Checkpoints.Checkpoint> saved = RunDirectory.open(run).checkpoints().list();
      assertThat(saved).hasSize(1);
      assertThat(output).contains("stopped at step " + saved.get(0).state().step());
    } finally {
      process.destroyForcibly();
    }
  }
}
