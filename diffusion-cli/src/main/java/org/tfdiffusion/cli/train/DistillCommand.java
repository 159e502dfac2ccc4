package org.tfdiffusion.cli.train;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import org.tfdiffusion.cli.ProgressOptions;
import org.tfdiffusion.cli.XlaOption;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.train.Distiller;
import org.tfdiffusion.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code distill}: progressive distillation of a trained run or export into students that sample
 * with half the DDIM steps per round (see {@link Distiller}).
 */
@Command(
    name = "distill",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Progressive distillation (Salimans & Ho 2022): round by round, a student initialised "
          + "from its teacher learns to take one deterministic DDIM step for the teacher's two, "
          + "so the steps halve (64, 32, ..., 4). Each round is a run folder OUT/round-N with its "
          + "own config.json, checkpoints, metrics, TensorBoard events and sample grids; the last "
          + "round's student samples with ddim at its steps by default in sample, export and "
          + "eval. A class-conditional teacher's guidance is distilled into the students "
          + "(--keep-guidance keeps it for sampling instead). See docs/distillation.md.",
    })
public final class DistillCommand implements Callable<Integer> {
  /** The default optimizer steps per round. */
  static final int DEFAULT_STEPS_PER_ROUND = 1000;

  @Spec CommandSpec spec;

  @Option(
      names = "--from",
      description =
          "The teacher: a run folder (its latest checkpoint's EMA weights), a checkpoint, or an"
              + " export (saved_models/NAME or saved_models/NAME/VERSION).")
  Path from;

  @Option(
      names = "--out",
      required = true,
      description = "The folder of the rounds: OUT/round-64, OUT/round-32, ...")
  Path out;

  @Option(
      names = "--resume",
      description =
          "Continue the distillation in --out: finished rounds are kept, a stopped round resumes"
              + " from its newest checkpoint with its config.json, the others follow.")
  boolean resume;

  @Option(
      names = "--steps-start",
      description = "The first round's student steps N; its teacher takes 2N (default: 64).")
  Integer stepsStart;

  @Option(
      names = "--steps-end",
      description =
          "The last round's student steps; --steps-start over it must be a power of two"
              + " (default: 4).")
  Integer stepsEnd;

  @Option(
      names = "--steps-per-round",
      description =
          "Optimizer steps of each round (default: "
              + DEFAULT_STEPS_PER_ROUND
              + "; with --resume, the rounds'.)")
  Integer stepsPerRound;

  @Option(names = "--batch-size", description = "Images per step (default: the teacher's).")
  Integer batchSize;

  @Option(
      names = "--lr",
      description =
          "Peak learning rate of each round, decayed to 0 along a half cosine (default: the"
              + " teacher's).")
  Double learningRate;

  @Option(
      names = "--guidance",
      description =
          "Guidance scale w of a class-conditional teacher's targets (default: the teacher's"
              + " sampling guidance); with --keep-guidance, the students' sampling guidance.")
  Double guidance;

  @Option(
      names = "--keep-guidance",
      description =
          "Distill the unguided teacher (conditional and unconditional) and keep classifier-free"
              + " guidance for sampling, instead of distilling the guided teacher into students"
              + " that sample at w = 1.")
  boolean keepGuidance;

  @Option(
      names = "--seed",
      description = "Seed of the draws and data order (default: the teacher's).")
  Long seed;

  @Option(
      names = "--data",
      description = "The training images, if not the teacher's (embedded, an IDX or image folder).")
  String data;

  @Option(
      names = "--log-every",
      description = "Steps between metrics rows and progress lines (default: the teacher's).")
  Integer logEvery;

  @Mixin ProgressOptions progress;

  @Mixin XlaOption xla;

  @Override
  public Integer call() {
    PrintWriter log = spec.commandLine().getOut();
    List<Integer> existing = Distiller.existingRounds(out);
    java.util.function.Supplier<Distiller.Teacher> teacher;
    Distiller.Settings settings;
    if (resume) {
      if (existing.isEmpty()) {
        throw new IllegalArgumentException(
            out
                + " holds no distillation round (round-N/config.json) to resume; start one with"
                + " distill --from TEACHER --out "
                + out);
      }
      if (from != null) {
        throw new IllegalArgumentException(
            "--resume continues from the teachers recorded in " + out + "; leave out --from");
      }
      // the rounds' settings are recorded in the first round's config.json
      int first = existing.get(0);
      TrainConfig firstConfig =
          RunDirectory.open(out.resolve(Distiller.ROUND_PREFIX + first)).config();
      Path firstTeacher = Path.of(firstConfig.fineTune().parentRun());
      teacher = () -> Distiller.Teacher.open(firstTeacher);
      TrainConfig.Distillation d = firstConfig.distillation();
      boolean conditional = firstConfig.model().conditional();
      settings =
          new Distiller.Settings(
              stepsStart != null ? stepsStart : first,
              stepsEnd != null ? stepsEnd : d.finalSteps(),
              stepsPerRound != null ? stepsPerRound : firstConfig.training().steps(),
              Optional.of(batchSize != null ? batchSize : firstConfig.training().batchSize()),
              Optional.of(
                  learningRate != null ? learningRate : firstConfig.optimizer().learningRate()),
              Optional.of(seed != null ? seed : firstConfig.training().seed()),
              Optional.of(data != null ? data : firstConfig.data().source()),
              conditional
                  ? Optional.of(
                      guidance != null
                          ? guidance
                          : d.guidanceDistilled()
                              ? d.teacherGuidance()
                              : firstConfig.conditioning().guidance())
                  : Optional.empty(),
              conditional && !d.guidanceDistilled(),
              Optional.of(logEvery != null ? logEvery : firstConfig.training().logEvery()));
    } else {
      if (from == null) {
        throw new IllegalArgumentException(
            "distill needs --from TEACHER (a run folder, a checkpoint or an export); a"
                + " distillation that stopped continues with --resume --out "
                + out);
      }
      if (!isEmptyOrAbsent(out)) {
        throw new IllegalArgumentException(
            out + " is not empty: continue its distillation with --resume, or give another --out");
      }
      Distiller.Teacher given = Distiller.Teacher.open(from);
      teacher = () -> given;
      settings =
          new Distiller.Settings(
              stepsStart != null ? stepsStart : 64,
              stepsEnd != null ? stepsEnd : 4,
              stepsPerRound != null ? stepsPerRound : DEFAULT_STEPS_PER_ROUND,
              Optional.ofNullable(batchSize),
              Optional.ofNullable(learningRate),
              Optional.ofNullable(seed),
              Optional.ofNullable(data),
              Optional.ofNullable(guidance),
              keepGuidance,
              Optional.ofNullable(logEvery));
      // every round's checks before the first starts (e.g. more steps than timesteps)
      Distiller.roundConfig(given, settings.stepsStart(), settings);
    }
    Trainer trainer =
        new Trainer(
            log,
            progress.progress(),
            SessionOptions.defaults()
                .withFlags(
                    xla.xla(),
                    spec.commandLine().getParseResult().hasMatchedOption(XlaOption.NAME),
                    false)
                // the student's convolutions as train's --conv auto: oneDNN's where built
                .withNativeConvolutions(ConvKernels.AUTO.resolve(false, false)));
    // a round asked to stop (Ctrl-C) saved its checkpoint and said how to continue
    new Distiller(trainer, log).run(out, teacher, settings);
    return 0;
  }

  private static boolean isEmptyOrAbsent(Path dir) {
    if (!Files.exists(dir)) {
      return true;
    }
    try (Stream<Path> entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + dir, e);
    }
  }
}
