package org.tfdiffusion.cli.export;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tfdiffusion.cli.train.FineTuneCommand;
import org.tfdiffusion.cli.train.TrainCommand;
import org.tfdiffusion.export.TinyRun;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import picocli.CommandLine;

/** {@code finetune --from} an export: a shipped model continues training without its run. */
class FineTuneFromExportTest {
  @TempDir Path dir;

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int finetune(String... args) {
    CommandLine cli = TrainCommand.commandLine(new FineTuneCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    return cli.execute(args);
  }

  @Test
  void anExportIsAParentLikeARunAndItsFrozenWeightsStayTheExportedOnes() {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    Path child = dir.resolve("child");
    int code =
        finetune(
            "--from",
            base.resolve("fashion").toString(),
            "--freeze",
            "down,mid,time",
            "--steps",
            "1",
            "--batch-size",
            "4",
            "--run-dir",
            child.toString(),
            "--no-xla",
            "--sample-every",
            "0",
            "--quiet");
    assertThat(code).as("%s%s", out, err).isZero();

    ExportedModel parent = ExportedModel.open(base.resolve("fashion"));
    assertThat(parent.versionDir()).isEqualTo(base.resolve("fashion").resolve("1"));
    TrainConfig saved = RunDirectory.open(child).config();
    assertThat(saved.fineTune().parentRun()).isEqualTo(parent.versionDir().toString());
    assertThat(saved.fineTune().parentStep()).isEqualTo(2);
    assertThat(saved.model()).isEqualTo(parent.config().model());
    Map<String, float[]> runEma = ema(TinyRun.get());
    assertThat(out.toString())
        .contains("loaded " + runEma.size() + " weights, initialised 0, parent's unused 0");

    // the frozen parts were loaded from the export and never trained: bit for bit the EMA
    // weights of the run the export was made from, read from that run's own checkpoint
    Map<String, float[]> childRaw = raw(child);
    int frozen = 0;
    int moved = 0;
    for (Map.Entry<String, float[]> e : runEma.entrySet()) {
      if (saved.fineTune().frozen(e.getKey())) {
        frozen++;
        assertThat(childRaw.get(e.getKey())).as(e.getKey()).containsExactly(e.getValue());
      } else if (!java.util.Arrays.equals(childRaw.get(e.getKey()), e.getValue())) {
        moved++;
      }
    }
    assertThat(frozen).isGreaterThan(5);
    assertThat(moved).as("the trainable weights moved").isPositive();

    // a fine-tuning run continues with --resume alone: its parent is in its config.json
    assertThat(
            finetune(
                "--resume", "--run-dir", child.toString(), "--steps", "2", "--no-xla", "--quiet"))
        .as("%s%s", out, err)
        .isZero();
    assertThat(org.tfdiffusion.run.Checkpoints.resolve(child).state().step()).isEqualTo(2);
    // and with the parent named again as the model folder, which is its highest version
    assertThat(
            finetune(
                "--resume",
                "--from",
                base.resolve("fashion").toString(),
                "--run-dir",
                child.toString(),
                "--steps",
                "3",
                "--no-xla",
                "--quiet"))
        .as("%s%s", out, err)
        .isZero();
    assertThat(org.tfdiffusion.run.Checkpoints.resolve(child).state().step()).isEqualTo(3);
  }

  @Test
  void withoutAParentOrResumeItSaysWhatToGive() {
    assertThat(finetune("--run-dir", dir.resolve("child").toString())).isNotZero();
    assertThat(err.toString())
        .contains("finetune needs --from PARENT")
        .contains("--resume --run-dir RUN")
        .doesNotContain("\tat ");
  }

  @Test
  void rawWeightsFromAnExportThatHoldsEmaAreRefusedWithTheWayOut() {
    Path base = dir.resolve("models");
    TinyRun.export(base, "fashion", () -> {});
    int code =
        finetune(
            "--from",
            base.resolve("fashion").toString(),
            "--from-weights",
            "raw",
            "--run-dir",
            dir.resolve("child").toString());
    assertThat(code).isNotZero();
    assertThat(err.toString())
        .contains("holds only its ema weights; give --from-weights ema")
        .doesNotContain("\tat ");
  }

  private static Map<String, float[]> ema(Path run) {
    return weights(run, TrainedModel.Weights.EMA);
  }

  private static Map<String, float[]> raw(Path run) {
    return weights(run, TrainedModel.Weights.RAW);
  }

  private static Map<String, float[]> weights(Path run, TrainedModel.Weights which) {
    Map<String, float[]> values = new LinkedHashMap<>();
    try (TrainedModel m = TrainedModel.load(run, which, SessionOptions.defaults(), x -> {})) {
      Session.Runner runner = m.session().runner();
      List<String> names = new ArrayList<>(m.weights().keySet());
      names.forEach(n -> runner.fetch(m.weights().get(n)));
      try (Result r = runner.run()) {
        for (int i = 0; i < names.size(); i++) {
          values.put(names.get(i), TensorIO.toFloats(r.get(i)));
        }
      }
    }
    return values;
  }
}
