package org.tfdiffusion.cli.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tfdiffusion.cli.Main;
import org.tfdiffusion.cli.bench.BenchCommand.Peer;
import org.tfdiffusion.cli.bench.BenchCommand.PeerResult;
import org.tfdiffusion.cli.bench.BenchCommand.Result;
import picocli.CommandLine;

/** The PyTorch peers of {@code bench}: several Pythons, their labels, tables and JSON. */
class BenchCommandTest {
  private static final String FASTER = "above 1 = tfdiffusion faster";

  private static BenchCommand parse(String... args) {
    CommandLine.ParseResult parsed = Main.commandLine().parseArgs(args);
    return (BenchCommand) parsed.subcommand().commandSpec().userObject();
  }

  @Test
  void peerPythonTakesACommaSeparatedList() {
    assertThat(
            parse("bench", "--peer-python", "/usr/bin/python3,/work/venv-torch213/bin/python")
                .peerPythons)
        .containsExactly("/usr/bin/python3", "/work/venv-torch213/bin/python");
    assertThat(parse("bench").peerPythons).containsExactly("python3");
    assertThat(parse("bench", "--peer-python=/opt/py").peerPythons).containsExactly("/opt/py");
  }

  private static Result ours(String config, double trainStep, Double compiledStep) {
    return new Result(
        config,
        "U-Net",
        81_000_000L,
        16.9,
        32,
        "oneDNN",
        trainStep,
        32 / trainStep,
        253.0,
        3647.0,
        1200.0,
        2000.0,
        compiledStep == null ? null : 1.0,
        compiledStep,
        compiledStep == null ? null : 1.3,
        List.of());
  }

  private static PeerResult peer(String label, double train, Double peak, double sample) {
    return new PeerResult(label, "/py/" + label, train, peak, sample, null, null);
  }

  private static List<Result> twoPeers() {
    return List.of(
        ours("tutorial", 6.4, 1.25)
            .withPeers(
                List.of(
                    peer("PyTorch 1.13.0a0", 8.0, 3310.0, 1.5),
                    peer("PyTorch 2.13.0+cpu", 4.8, null, 1.0))),
        ours("small", 1.6, 0.25));
  }

  @Test
  void theRatiosAreThePeersTimeOverOurs() {
    List<PeerResult> peers = twoPeers().get(0).peers();
    assertThat(peers)
        .extracting(PeerResult::label)
        .containsExactly("PyTorch 1.13.0a0", "PyTorch 2.13.0+cpu");
    assertThat(peers.get(0).trainRatio()).isCloseTo(1.25, within(1e-12));
    assertThat(peers.get(0).sampleRatio()).isCloseTo(1.2, within(1e-12));
    assertThat(peers.get(1).trainRatio()).isCloseTo(0.75, within(1e-12));
    assertThat(peers.get(1).sampleRatio()).isCloseTo(0.8, within(1e-12));
    // without our sampling there is no sampling ratio
    PeerResult noSampling =
        ours("small", 2.0, null)
            .withPeers(List.of(peer("PyTorch 2", 3.0, 10.0, 1.0)))
            .peers()
            .get(0);
    assertThat(noSampling.trainRatio()).isCloseTo(1.5, within(1e-12));
    assertThat(noSampling.sampleRatio()).isNull();
  }

  @Test
  void theTrainingTableHasARowPerPeer() {
    String[] lines = BenchCommand.markdown(twoPeers()).split("\n");
    assertThat(lines).hasSize(5);
    assertThat(lines[0])
        .isEqualTo(
            "| config | params | GFLOP/img | tfdiffusion s/step | img/s | GFLOP/s | peak MiB |"
                + " peer | peer s/step | peer peak MiB | peer time / ours ("
                + FASTER
                + ") |");
    assertThat(lines[1].chars().filter(c -> c == '|').count()).isEqualTo(12);
    assertThat(lines[2])
        .startsWith("| tutorial | 81")
        .endsWith("| 16.90 | 6.400 | 5.0 | 253 | 3647 | PyTorch 1.13.0a0 | 8.000 | 3310 | 1.25 |");
    assertThat(lines[3])
        .isEqualTo("| tutorial | | | | | | | PyTorch 2.13.0+cpu | 4.800 | - | 0.75 |");
    assertThat(lines[4]).endsWith("| 1.600 | 20.0 | 253 | 3647 | - | - | - | - |");
    for (String line : lines) {
      assertThat(line.chars().filter(c -> c == '|').count()).as(line).isEqualTo(12);
    }
  }

  @Test
  void theSamplingTableHasARowPerPeer() {
    String[] lines = BenchCommand.samplingMarkdown(twoPeers()).split("\n");
    assertThat(lines).hasSize(6);
    assertThat(lines[0])
        .endsWith(
            " 16 images: DDPM-1000 / DDIM-50 / DPM++-20 | peer | peer s/step |"
                + " peer time / compiled loop ("
                + FASTER
                + ") |");
    assertThat(lines[2])
        .isEqualTo(
            "| tutorial | 1.000 | 1.250 | +25.0% | 1.300 | 1250 s / 62.5 s / 25.0 s"
                + " | PyTorch 1.13.0a0 | 1.500 | 1.20 |");
    assertThat(lines[3]).isEqualTo("| tutorial | | | | | | PyTorch 2.13.0+cpu | 1.000 | 0.80 |");
    assertThat(lines[4])
        .isEqualTo(
            "| small | 1.000 | 0.250 | -75.0% | 1.300 | 250 s / 12.5 s / 5.0 s | - | - | - |");
    for (int i = 0; i < 5; i++) {
      assertThat(lines[i].chars().filter(c -> c == '|').count()).as(lines[i]).isEqualTo(10);
    }
  }

  @Test
  void eachPeerHasALineWithItsLabelAndRatio() {
    List<PeerResult> peers = twoPeers().get(0).peers();
    assertThat(BenchCommand.peerLine(peers.get(0), 32))
        .isEqualTo(
            "         peer PyTorch 1.13.0a0: 8.000 s per step, 4.0 img/s, peak 3310 MiB;"
                + " peer time / tfdiffusion 1.25 ("
                + FASTER
                + ")\n");
    assertThat(BenchCommand.peerLine(peers.get(1), 32))
        .contains("peer PyTorch 2.13.0+cpu: 4.800 s per step, 6.7 img/s, peak unknown;")
        .contains("peer time / tfdiffusion 0.75");
  }

  @Test
  void theJsonGivesEveryPeerWithItsLabelAndRatios() throws Exception {
    JsonNode json = new ObjectMapper().readTree(BenchCommand.json(twoPeers()));
    assertThat(json.size()).isEqualTo(2);
    JsonNode peers = json.get(0).get("peers");
    assertThat(peers.size()).isEqualTo(2);
    assertThat(peers.get(0).get("label").asText()).isEqualTo("PyTorch 1.13.0a0");
    assertThat(peers.get(0).get("trainStepSeconds").asDouble()).isEqualTo(8.0);
    assertThat(peers.get(0).get("peakMemoryMib").asDouble()).isEqualTo(3310.0);
    assertThat(peers.get(0).get("trainRatio").asDouble()).isCloseTo(1.25, within(1e-12));
    assertThat(peers.get(0).get("sampleRatio").asDouble()).isCloseTo(1.2, within(1e-12));
    assertThat(peers.get(1).get("label").asText()).isEqualTo("PyTorch 2.13.0+cpu");
    assertThat(peers.get(1).get("python").asText()).isEqualTo("/py/PyTorch 2.13.0+cpu");
    assertThat(peers.get(1).get("peakMemoryMib").isNull()).isTrue();
    assertThat(peers.get(1).get("trainRatio").asDouble()).isCloseTo(0.75, within(1e-12));
    assertThat(peers.get(1).get("sampleRatio").asDouble()).isCloseTo(0.8, within(1e-12));
    assertThat(json.get(1).get("peers").size()).isZero();
    // the child JVM's result, read back, keeps its peers
    Result back =
        new ObjectMapper()
            .readValue(new ObjectMapper().writeValueAsString(twoPeers().get(0)), Result.class);
    assertThat(back.peers()).isEqualTo(twoPeers().get(0).peers());
  }

  private static Path script(Path dir, String name, String body) throws Exception {
    Path file = dir.resolve(name);
    Files.writeString(file, "#!/bin/sh\n" + body);
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    return file;
  }

  /** A Python with torch as far as bench can tell: its version, and seed_bench.py's output. */
  private static Path fakePython(Path dir, String name, String version, double train)
      throws Exception {
    return script(
        dir,
        name,
        "if [ \"$1\" = -c ]; then echo '"
            + version
            + "'; exit 0; fi\n"
            + "echo 'a warning on the way'\n"
            + "echo '{\"peer\": \"seed-pytorch-"
            + version
            + "\", \"train_step_s\": "
            + train
            + ", \"sample_step_s\": 0.5, \"args\": \"'\"$*\"'\"}'\n");
  }

  @Test
  void aPythonWithoutTorchIsOneLineAndTheOthersStillRun(@TempDir Path dir) throws Exception {
    Path torch = fakePython(dir, "python-torch", "2.13.0+cpu", 2.5);
    Path noTorch =
        script(
            dir,
            "python-notorch",
            "echo 'Traceback (most recent call last):' >&2\n"
                + "echo \"ModuleNotFoundError: No module named 'torch'\" >&2\n"
                + "exit 1\n");
    String missing = dir.resolve("no-such-python").toString();
    StringWriter out = new StringWriter();
    List<Peer> peers =
        BenchCommand.peers(
            List.of(missing, torch.toString(), noTorch.toString()), new PrintWriter(out, true));

    assertThat(peers).containsExactly(new Peer(torch.toString(), "PyTorch 2.13.0+cpu"));
    String[] lines = out.toString().split("\n");
    assertThat(lines).hasSize(2);
    assertThat(lines[0])
        .startsWith("peer " + missing + ": skipped, cannot import torch (")
        .contains("no-such-python")
        .endsWith("install it: apt-get install python3-torch (Debian) or pip install torch");
    assertThat(lines[1])
        .isEqualTo(
            "peer "
                + noTorch
                + ": skipped, cannot import torch (ModuleNotFoundError: No module named 'torch');"
                + " install it: apt-get install python3-torch (Debian) or pip install torch");

    Path seedBench = Files.writeString(dir.resolve("seed_bench.py"), "# peer\n");
    Optional<PeerResult> run =
        BenchCommand.runPeer(
            peers.get(0), seedBench, List.of("--hidden", "64"), new PrintWriter(out, true));
    assertThat(run).isPresent();
    PeerResult result = run.get();
    assertThat(result.label()).isEqualTo("PyTorch 2.13.0+cpu");
    assertThat(result.python()).isEqualTo(torch.toString());
    assertThat(result.trainStepSeconds()).isEqualTo(2.5);
    assertThat(result.sampleStepSeconds()).isEqualTo(0.5);
    if (Files.isExecutable(Path.of("/usr/bin/time"))) {
      assertThat(result.peakMemoryMib()).isPositive().isLessThan(1000.0);
    } else {
      assertThat(result.peakMemoryMib()).isNull();
    }
    // it still counts: its ratio next to our step
    assertThat(ours("small", 2.0, 0.25).withPeers(List.of(result)).peers().get(0).trainRatio())
        .isEqualTo(1.25);
    assertThat(out.toString().split("\n")).hasSize(2); // no more lines for the one that ran
  }

  @Test
  void aPeerThatFailsSaysWhyAndGivesNoFigures(@TempDir Path dir) throws Exception {
    Path broken = script(dir, "python-broken", "echo 'RuntimeError: out of memory'; exit 1\n");
    StringWriter out = new StringWriter();
    Optional<PeerResult> run =
        BenchCommand.runPeer(
            new Peer(broken.toString(), "PyTorch 2.13.0+cpu"),
            dir.resolve("seed_bench.py"),
            List.of(),
            new PrintWriter(out, true));
    assertThat(run).isEmpty();
    assertThat(out.toString())
        .isEqualTo(
            "peer PyTorch 2.13.0+cpu (" + broken + "): not run (RuntimeError: out of memory)\n");
  }

  @Test
  void twoPythonsWithOneVersionAreToldApartByTheirPath(@TempDir Path dir) throws Exception {
    Path a = fakePython(dir, "python-a", "2.13.0+cpu", 1.0);
    Path b = fakePython(dir, "python-b", "2.13.0+cpu", 1.0);
    Path c = fakePython(dir, "python-c", "1.13.0a0", 1.0);
    StringWriter out = new StringWriter();
    List<Peer> peers =
        BenchCommand.peers(
            List.of(a.toString(), b.toString(), c.toString()), new PrintWriter(out, true));
    assertThat(peers)
        .extracting(Peer::label)
        .containsExactly(
            "PyTorch 2.13.0+cpu (" + a + ")", "PyTorch 2.13.0+cpu (" + b + ")", "PyTorch 1.13.0a0");
    assertThat(out.toString()).isEmpty();
  }
}
