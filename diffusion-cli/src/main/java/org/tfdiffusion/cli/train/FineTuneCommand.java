package org.tfdiffusion.cli.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.tfdiffusion.cli.NamedOption;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.train.FineTuning;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code finetune}: a new run that starts from a trained run's weights, on new data or new classes,
 * with optional frozen parts and a lower learning rate. Every {@code train} option applies; the
 * defaults are the parent's.
 */
@Command(
    name = "finetune",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Fine-tune a trained run or an export on new data or new classes.",
      "Fine-tune a trained run: weights whose name and shape match are loaded (EMA by "
          + "default), new ones (e.g. a larger label table) are initialised; the log lists "
          + "which is which. An unconditional model becomes conditional with --conditional. "
          + "Defaults are the parent's, with a tenth of its learning rate and 500 steps; the "
          + "new run records its parent.",
    })
public final class FineTuneCommand extends TrainCommand {
  /** The default number of fine-tuning steps. */
  static final int DEFAULT_STEPS = 500;

  /** The default learning rate as a fraction of the parent's. */
  static final double LEARNING_RATE_FRACTION = 0.1;

  @Option(
      names = "--from",
      description =
          "The parent: a run folder, a checkpoint, or an export (saved_models/NAME or"
              + " saved_models/NAME/VERSION).")
  Path from;

  @Option(
      names = "--from-weights",
      defaultValue = "ema",
      converter = NamedOption.Weights.class,
      completionCandidates = NamedOption.Weights.class,
      description = "The parent's ema or raw weights (default: ${DEFAULT-VALUE}).")
  TrainedModel.Weights fromWeights;

  @Option(
      names = "--freeze",
      split = ",",
      description = "Parts not trained: down, mid, up, time, labels, or weight-name prefixes.")
  List<String> freeze;

  /** The weight-name prefixes of {@code --freeze}: named parts expanded, prefixes as given. */
  static List<String> frozenPrefixes(List<String> parts) {
    List<String> frozen = new ArrayList<>();
    for (String part : parts) {
      frozen.addAll(FineTuning.PARTS.getOrDefault(part.trim(), List.of(part.trim())));
    }
    return frozen;
  }

  @Override
  TrainConfig baseConfig() {
    if (from == null) {
      throw new IllegalArgumentException(
          "finetune needs --from PARENT (a run folder, a checkpoint or an export); a fine-tuning"
              + " run that stopped continues with --resume --run-dir RUN");
    }
    String parentPath;
    long parentStep;
    TrainConfig parent;
    if (ExportedModel.isExport(from)) {
      ExportedModel e = ExportedModel.open(from);
      String held = e.metadata().weightsName();
      if (fromWeights != e.metadata().weights()) {
        throw new IllegalArgumentException(
            String.format(
                "%s holds only its %s weights; give --from-weights %s, or fine-tune from the run"
                    + " it was exported from",
                e.versionDir(), held, held));
      }
      parentPath = e.versionDir().toString();
      parentStep = e.metadata().trainingStep();
      parent = e.config();
    } else {
      Checkpoints.Checkpoint checkpoint = Checkpoints.resolve(from);
      Path parentRun = checkpoint.runDir();
      parentPath = parentRun.toString();
      parentStep = checkpoint.state().step();
      parent = RunDirectory.open(parentRun).config();
    }
    List<String> frozen = freeze == null ? List.of() : frozenPrefixes(freeze);
    TrainConfig.Optimizer o = parent.optimizer();
    double lr = o.learningRate() * LEARNING_RATE_FRACTION;
    return new TrainConfig(
        TrainConfig.FORMAT,
        // the number of classes comes from the new data when conditional
        parent.model().toBuilder().numClasses(0).build(),
        parent.schedule(),
        parent.prediction(),
        parent.data(),
        o.toBuilder()
            .learningRate(lr)
            .warmupSteps(Math.min(o.warmupSteps(), DEFAULT_STEPS / 10))
            .minLearningRate(Math.min(o.minLearningRate(), lr))
            .build(),
        parent.ema(),
        parent.training().withSteps(DEFAULT_STEPS),
        parent.conditioning().enabled()
            ? new TrainConfig.Conditioning(
                true, parent.conditioning().pUncond(), parent.conditioning().guidance(), List.of())
            : TrainConfig.Conditioning.none(),
        new TrainConfig.FineTune(parentPath, parentStep, fromWeights, frozen),
        "finetune",
        parent.loss());
  }
}
