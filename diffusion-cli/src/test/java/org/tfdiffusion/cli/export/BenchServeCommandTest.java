package org.tfdiffusion.cli.export;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.train.TrainCommand;
import org.tfdiffusion.export.TinyRun;
import picocli.CommandLine;

class BenchServeCommandTest {
  @TempDir Path dir;

  @Test
  void printsATableOfBothPathsAndWritesJson() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "tiny", () -> {});
    CommandLine cli = TrainCommand.commandLine(new BenchServeCommand());
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    Path json = dir.resolve("bench.json");
    assertThat(
            cli.execute(
                "--base",
                base.toString(),
                "--batches",
                "1,2",
                "--iterations",
                "2",
                "--warmup",
                "1",
                "--format",
                "inputs",
                "--json",
                json.toString(),
                "-q"))
        .isZero();
    assertThat(out.toString())
        .contains("| batch | path | median ms | p90 ms | images/s |")
        .contains("| 1 | in-process (SavedModel) |")
        .contains("| 2 | HTTP :predict (inputs) |")
        .contains("max abs difference 0");
    JsonNode report = new ObjectMapper().readTree(json.toFile());
    assertThat(report.path("model").asText()).isEqualTo("tiny");
    assertThat(report.path("rows")).hasSize(4);
    assertThat(report.path("maxAbsDiff").asDouble()).isZero();
  }

  @Test
  void concurrentClientsWithAndWithoutBatching() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "tiny", () -> {});
    CommandLine cli = TrainCommand.commandLine(new BenchServeCommand());
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    Path json = dir.resolve("clients.json");
    assertThat(
            cli.execute(
                "--base",
                base.toString(),
                "--clients",
                "1,3",
                "--requests",
                "2",
                "--json",
                json.toString(),
                "-q"))
        .as(out.toString())
        .isZero();
    assertThat(out.toString())
        .contains("| clients | batching | images | images/s | p50 ms | p90 ms | p99 ms |")
        .contains("| 1 | off | 2 |")
        .contains("| 3 | on | 6 |")
        .contains("every seed gave the same image with and without batching");
    JsonNode report = new ObjectMapper().readTree(json.toFile());
    assertThat(report.path("rows")).hasSize(4);
    assertThat(report.path("differentImages").asInt()).isZero();
    // without batching every run has one row
    assertThat(report.path("rows").get(0).path("meanRunRows").asDouble()).isEqualTo(1.0);
  }
}
