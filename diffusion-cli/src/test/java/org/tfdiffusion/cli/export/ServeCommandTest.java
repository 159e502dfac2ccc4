package org.tfdiffusion.cli.export;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.train.TrainCommand;
import org.tfdiffusion.export.TinyRun;
import org.tfdiffusion.export.serving.HttpLimits;
import org.tfdiffusion.export.serving.ModelRegistry;
import picocli.CommandLine;

class ServeCommandTest {
  @TempDir Path dir;

  @Test
  void servesOnAFreePortPrintsItAndTheModelsAndStops() throws Exception {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    Path runs = dir.resolve("runs");
    Files.createDirectories(runs.resolve("run-a"));
    Files.writeString(runs.resolve("run-a/metrics.csv"), "step,epoch,loss\n");
    ServeCommand command = new ServeCommand();
    CommandLine cli = TrainCommand.commandLine(command);
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    AtomicInteger status = new AtomicInteger(-1);
    Thread thread =
        new Thread(
            () ->
                status.set(
                    cli.execute(
                        "--base",
                        base.toString(),
                        "--rest_api_port",
                        "0",
                        "--port",
                        "0",
                        "--poll-seconds",
                        "0",
                        "--runs",
                        runs.toString())));
    thread.start();
    long deadline = System.nanoTime() + 30_000_000_000L;
    while ((command.server == null || !out.toString().contains("Ctrl-C"))
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(command.server).isNotNull();
    int port = command.server.port();
    assertThat(port).isPositive().isNotEqualTo(8501);
    int grpcPort = command.server.grpcPort().orElseThrow();
    assertThat(grpcPort).isPositive().isNotEqualTo(8500).isNotEqualTo(port);
    String printed = out.toString();
    assertThat(printed)
        .contains("gRPC: 127.0.0.1:" + grpcPort + " (TensorFlow Serving's PredictionService")
        .contains("http://127.0.0.1:" + port)
        .contains("web page: http://127.0.0.1:" + port + "/\n")
        .contains("runs: " + runs.toAbsolutePath().normalize() + " (1: run-a)")
        .contains("fashion")
        .contains("versions [1], default 1")
        .contains("dpm-solver++")
        .contains("curl -s -X POST http://127.0.0.1:" + port + "/v1/models/fashion:predict")
        .contains("\"num_steps\": 10");
    HttpResponse<String> r =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + port + "/v1/models/fashion"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).isEqualTo(200);
    assertThat(r.body()).contains("AVAILABLE");
    command.stop.countDown();
    thread.join(30_000);
    assertThat(status.get()).isZero();
    assertThat(out.toString()).contains("GET /v1/models/fashion 200");
  }

  @Test
  void aMissingBaseIsAClearError() {
    CommandLine cli = TrainCommand.commandLine(new ServeCommand());
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    assertThat(
            cli.execute(
                "--base", dir.resolve("nothing").toString(), "--rest_api_port", "0", "--port", "0"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("is not a folder").contains("export");
    assertThat(Files.exists(dir.resolve("nothing"))).isFalse();
  }

  @Test
  void aMissingRunsFolderIsAClearError() throws Exception {
    Files.createDirectories(dir.resolve("models"));
    CommandLine cli = TrainCommand.commandLine(new ServeCommand());
    StringWriter err = new StringWriter();
    cli.setErr(new PrintWriter(err, true));
    assertThat(
            cli.execute(
                "--base",
                dir.resolve("models").toString(),
                "--runs",
                dir.resolve("no-runs").toString(),
                "--rest_api_port",
                "0",
                "--port",
                "0"))
        .isEqualTo(2);
    assertThat(err.toString()).contains("no-runs is not a folder", "--runs", "runs/");
  }

  @Test
  void theHelpNamesTheWebPageAndRuns() {
    CommandLine cli = TrainCommand.commandLine(new ServeCommand());
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    assertThat(cli.execute("--help")).isZero();
    assertThat(out.toString())
        .contains("--runs=DIR", "A web page at http://HOST:PORT/", "GET  /v1/models", "/v1/runs");
  }

  @Test
  void theLimitsAndLoadRetriesAreOptionsWithTfServingsSpellingsToo() throws Exception {
    Path base = Files.createDirectories(dir.resolve("models"));
    ServeCommand command = new ServeCommand();
    CommandLine cli = TrainCommand.commandLine(command);
    StringWriter out = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    AtomicInteger status = new AtomicInteger(-1);
    Thread thread =
        new Thread(
            () ->
                status.set(
                    cli.execute(
                        "--base",
                        base.toString(),
                        "--rest_api_port",
                        "0",
                        "--port",
                        "0",
                        "--max-connections",
                        "7",
                        "--header-timeout",
                        "2.5",
                        "--body-timeout",
                        "3",
                        "--idle-timeout",
                        "4",
                        "--max-header-bytes",
                        "4096",
                        "--max-body-bytes",
                        "1000",
                        "--max_num_load_retries",
                        "2",
                        "--load_retry_interval_micros",
                        "250000",
                        "--no-grpc")));
    thread.start();
    long deadline = System.nanoTime() + 30_000_000_000L;
    while ((command.server == null || !out.toString().contains("Ctrl-C"))
        && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(command.server).isNotNull();
    HttpLimits limits = command.server.options().limits();
    assertThat(limits.maxConnections()).isEqualTo(7);
    assertThat(limits.headerTimeout()).isEqualTo(java.time.Duration.ofMillis(2500));
    assertThat(limits.bodyTimeout()).isEqualTo(java.time.Duration.ofSeconds(3));
    assertThat(limits.idleTimeout()).isEqualTo(java.time.Duration.ofSeconds(4));
    assertThat(limits.maxHeaderBytes()).isEqualTo(4096);
    assertThat(limits.maxBodyBytes()).isEqualTo(1000);
    assertThat(limits.maxBodyBytesInFlight()).isEqualTo(2000);
    ModelRegistry.LoadRetries retries = command.server.options().loadRetries();
    assertThat(retries.maxRetries()).isEqualTo(2);
    assertThat(retries.interval()).isEqualTo(java.time.Duration.ofMillis(250));
    assertThat(command.server.grpcPort()).isEmpty();
    assertThat(out.toString())
        .contains("gRPC: off\n")
        .contains("limits: 7 connections; headers within 2.5 s, bodies within 3 s and 1000 bytes")
        .contains("failed loads retried 2 times, 0.25 s apart");
    command.stop.countDown();
    thread.join(30_000);
    assertThat(status.get()).isZero();
  }

  @Test
  void aLimitThatWouldRefuseEverythingIsAClearError() {
    for (String[] bad :
        new String[][] {
          {
            "--header-timeout",
            "0",
            "--header-timeout 0 is out of range: give a finite number in (0, 86400]"
          },
          {"--max-body-bytes", "0", "--max-body-bytes must be at least 1"},
          {"--max-connections", "0", "--max-connections must be at least 1"},
          {"--max-num-load-retries", "-1", "--max-num-load-retries must be at least 0"}
        }) {
      CommandLine cli = TrainCommand.commandLine(new ServeCommand());
      StringWriter err = new StringWriter();
      cli.setErr(new PrintWriter(err, true));
      assertThat(
              cli.execute(
                  "--base", dir.toString(), "--rest_api_port", "0", "--port", "0", bad[0], bad[1]))
          .as(bad[0])
          .isEqualTo(2);
      assertThat(err.toString()).as(bad[0]).contains(bad[2]).doesNotContain("\tat ");
    }
  }
}
