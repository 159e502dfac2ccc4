package org.tfdiffusion.train;

import static com.google.common.base.Preconditions.checkArgument;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;

/**
 * Progressive distillation as a chain of runs (Salimans &amp; Ho 2022, Algorithm 2): round N is a
 * run folder {@code OUT/round-N} whose student, initialised from its teacher, learns to take one
 * DDIM step for the teacher's two; the first round's teacher is the given run or export, every
 * later round's the finished student of the round before, so the steps halve from round to round
 * (64, 32, ..., 4). Each round is an ordinary run (config.json, checkpoints, metrics, TensorBoard,
 * sample grids) that resumes exactly; its config.json records its teacher ({@link
 * TrainConfig.FineTune}) and its steps ({@link TrainConfig.Distillation}).
 */
public final class Distiller {
  /** The prefix of a round's run folder, followed by its student's steps. */
  public static final String ROUND_PREFIX = "round-";

  private static final Pattern ROUND = Pattern.compile(ROUND_PREFIX + "(\\d+)");

  /**
   * What every round takes from the command line; an empty value is the teacher's.
   *
   * @param stepsStart the first round's student steps N (its teacher takes 2N)
   * @param stepsEnd the last round's student steps
   * @param iterations optimizer steps per round
   * @param batchSize images per optimizer step
   * @param learningRate the peak learning rate of each round (cosine decay to 0 over the round)
   * @param seed the seed of each round's draws and data order
   * @param data another dataset than the teacher's
   * @param guidance w of a guided teacher's targets (or, kept, of the students' sampling)
   * @param keepGuidance the teacher's targets are unguided and the students keep the guidance
   *     scale, instead of the guided teacher being distilled into students that sample without
   *     guidance
   */
  public record Settings(
      int stepsStart,
      int stepsEnd,
      int iterations,
      Optional<Integer> batchSize,
      Optional<Double> learningRate,
      Optional<Long> seed,
      Optional<String> data,
      Optional<Double> guidance,
      boolean keepGuidance,
      Optional<Integer> logEvery) {
    public Settings {
      checkArgument(stepsEnd >= 1, "--steps-end must be >= 1, got %s", stepsEnd);
      checkArgument(
          stepsStart >= stepsEnd
              && stepsStart % stepsEnd == 0
              && Integer.bitCount(stepsStart / stepsEnd) == 1,
          "--steps-start %s is not a power-of-two multiple of --steps-end %s: each round halves"
              + " the steps (e.g. --steps-start 64 --steps-end 4)",
          stepsStart,
          stepsEnd);
      checkArgument(iterations >= 1, "--steps-per-round must be >= 1, got %s", iterations);
      batchSize.ifPresent(b -> checkArgument(b >= 1, "--batch-size must be >= 1, got %s", b));
      logEvery.ifPresent(n -> checkArgument(n >= 1, "--log-every must be >= 1, got %s", n));
      guidance.ifPresent(
          w -> checkArgument(Double.isFinite(w) && w >= 0, "--guidance must be >= 0, got %s", w));
    }

    /** The rounds' student steps, first to last. */
    public List<Integer> rounds() {
      List<Integer> rounds = new ArrayList<>();
      for (int n = stepsStart; n >= stepsEnd; n /= 2) {
        rounds.add(n);
      }
      return rounds;
    }
  }

  /**
   * A teacher: where its weights are (a run folder or an export) and its config.
   *
   * @param path the run folder or the export's version folder
   * @param step the step of the checkpoint (or export) its weights come from
   * @param weights ema or raw
   */
  public record Teacher(Path path, long step, TrainedModel.Weights weights, TrainConfig config) {
    /**
     * The teacher in a run folder (its latest checkpoint), a checkpoint folder or an export.
     *
     * @throws IllegalArgumentException naming the path when it holds none of them
     */
    public static Teacher open(Path path) {
      if (ExportedModel.isExport(path)) {
        ExportedModel e = ExportedModel.open(path);
        return new Teacher(
            e.versionDir(), e.metadata().trainingStep(), e.metadata().weights(), e.config());
      }
      Checkpoints.Checkpoint checkpoint = Checkpoints.resolve(path);
      Path run = checkpoint.runDir();
      return new Teacher(
          run,
          checkpoint.state().step(),
          TrainedModel.Weights.EMA,
          RunDirectory.open(run).config());
    }
  }

  private final Trainer trainer;
  private final PrintWriter out;

  public Distiller(Trainer trainer, PrintWriter out) {
    this.trainer = trainer;
    this.out = out;
  }

  /**
   * The config of round N: the teacher's model, schedule, prediction, data and EMA; the student
   * starts from the teacher's weights and trains {@code iterations} steps with AdamW at the given
   * (or the teacher's) learning rate, decayed to 0 along a half cosine; its sample grids, and by
   * default every sampler of {@code sample}, {@code export} and {@code eval}, are DDIM at N steps.
   *
   * <p>Guidance of a class-conditional teacher: distilled (the default), the teacher's targets are
   * guided at w (the given one, or the teacher's sampling guidance) and the student samples at w =
   * 1, plain conditional; kept, the targets are the teacher's plain conditional and unconditional
   * predictions (label dropout as the teacher's) and the student samples guided at w.
   */
  public static TrainConfig roundConfig(Teacher teacher, int steps, Settings s) {
    TrainConfig t = teacher.config();
    int timesteps = t.noiseSchedule().timesteps();
    checkArgument(
        2 * steps <= timesteps,
        "a student of %s steps needs a teacher of %s DDIM steps, more than the model's %s"
            + " timesteps; give a smaller --steps-start",
        steps,
        2 * steps,
        timesteps);
    boolean conditional = t.model().conditional();
    checkArgument(
        conditional || (s.guidance().isEmpty() && !s.keepGuidance()),
        "the teacher is unconditional (trained without labels): it takes no --guidance or"
            + " --keep-guidance");
    TrainConfig.Distillation before = t.distillation();
    boolean teacherGuided = before.active() && before.guidanceDistilled();
    checkArgument(
        !teacherGuided || !s.keepGuidance(),
        "the teacher %s already holds its guidance (a distilled student samples at w = 1): its"
            + " students cannot keep guidance; leave out --keep-guidance",
        teacher.path());
    double teacherW;
    double studentW;
    if (!conditional) {
      teacherW = 1;
      studentW = t.conditioning().guidance();
    } else if (s.keepGuidance()) {
      teacherW = 1;
      studentW = s.guidance().orElse(t.conditioning().guidance());
    } else {
      // a teacher that holds its guidance samples at w = 1 already; --guidance is for the first
      teacherW = teacherGuided ? 1 : s.guidance().orElse(t.conditioning().guidance());
      studentW = 1;
    }
    TrainConfig.Optimizer o = t.optimizer();
    double lr = s.learningRate().orElse(o.learningRate());
    TrainConfig.Training tt = t.training();
    TrainConfig.Training.Builder training =
        tt.toBuilder()
            .steps(s.iterations())
            .sampleEvery(0)
            .sampler(SamplerKind.DDIM)
            .samplerSteps(steps)
            .checkpointEvery(Math.min(tt.checkpointEvery(), s.iterations()));
    s.batchSize().ifPresent(b -> training.batch(b, 1));
    s.logEvery().ifPresent(training::logEvery);
    TrainConfig.Training built = training.build();
    if (s.seed().isPresent()) {
      built =
          new TrainConfig.Training(
              built.steps(),
              built.batchSize(),
              built.accumulation(),
              s.seed().get(),
              built.logEvery(),
              built.checkpointEvery(),
              built.keepCheckpoints(),
              built.sampleEvery(),
              built.sampleCount(),
              built.sampler(),
              built.samplerSteps());
    }
    TrainConfig.Data d = t.data();
    TrainConfig.Data data =
        s.data()
            .map(source -> new TrainConfig.Data(source, d.split(), d.fit(), d.flip()))
            .orElse(d);
    return new TrainConfig(
        TrainConfig.FORMAT,
        t.model(),
        t.schedule(),
        t.prediction(),
        data,
        o.toBuilder().learningRate(lr).warmupSteps(0).cosineDecay(true).minLearningRate(0).build(),
        t.ema(),
        built,
        new TrainConfig.Conditioning(
            t.conditioning().enabled(),
            t.conditioning().pUncond(),
            studentW,
            t.conditioning().classNames()),
        new TrainConfig.FineTune(
            teacher.path().toString(), teacher.step(), teacher.weights(), List.of()),
        "distill",
        t.loss(),
        new TrainConfig.Distillation(
            steps, s.stepsEnd(), teacherW, conditional && !s.keepGuidance()));
  }

  /** What a distillation did. */
  public record Outcome(List<Trainer.Outcome> rounds, boolean finished) {}

  /**
   * Runs the rounds of {@code settings} in {@code outDir}, the first from {@code teacher}: a round
   * already done is skipped, one that stopped is resumed from its newest checkpoint, the others
   * start from the student of the round before. Stops after a round that was asked to stop (e.g. by
   * Ctrl-C, with its checkpoint saved).
   */
  public Outcome run(Path outDir, Teacher teacher, Settings settings) {
    return run(outDir, () -> teacher, settings);
  }

  /**
   * {@link #run(Path, Teacher, Settings)} with the first round's teacher opened only when that
   * round starts (a resumed distillation whose first round exists does not need it).
   */
  public Outcome run(
      Path outDir, java.util.function.Supplier<Teacher> firstTeacher, Settings settings) {
    List<Trainer.Outcome> outcomes = new ArrayList<>();
    Teacher current = null;
    for (int n : settings.rounds()) {
      Path dir = outDir.resolve(ROUND_PREFIX + n);
      Trainer.Outcome outcome;
      if (Files.isRegularFile(dir.resolve(RunDirectory.CONFIG))) {
        TrainConfig config = RunDirectory.open(dir).config();
        checkArgument(
            config.distillation().steps() == n,
            "%s is not round %s of a distillation (its config.json says %s steps); move it away",
            dir,
            n,
            config.distillation().steps());
        Optional<Checkpoints.Checkpoint> latest = Checkpoints.of(dir).latest();
        if (latest.isPresent() && latest.get().state().step() >= config.training().steps()) {
          out.printf(
              "round %d: done (%s, step %d)%n", n, latest.get().dir(), latest.get().state().step());
          out.flush();
          current = Teacher.open(dir);
          continue;
        }
        out.printf("round %d: resuming %s%n", n, dir);
        out.flush();
        outcome = trainer.resume(dir, Optional.empty());
      } else {
        if (current == null) {
          current = firstTeacher.get();
        }
        TrainConfig config = roundConfig(current, n, settings);
        out.printf(
            "round %d: a %d-step student of %s (%d DDIM steps%s)%n",
            n,
            n,
            current.path(),
            2 * n,
            config.model().conditional()
                ? config.distillation().guidanceDistilled()
                    ? ", guided at w = " + config.distillation().teacherGuidance() + ", distilled"
                    : ", guidance kept for sampling at w = " + config.conditioning().guidance()
                : "");
        out.flush();
        outcome = trainer.train(dir, config);
      }
      outcomes.add(outcome);
      if (outcome.step() < RunDirectory.open(dir).config().training().steps()) {
        out.printf(
            "distillation stopped in round %d; continue with distill --resume --out %s%n",
            n, outDir);
        out.flush();
        return new Outcome(outcomes, false);
      }
      current = Teacher.open(dir);
    }
    out.printf(
        "distilled to %d steps: %s (sample it with sample --run %s; it samples with ddim at %d"
            + " steps by default)%n",
        settings.stepsEnd(),
        outDir.resolve(ROUND_PREFIX + settings.stepsEnd()),
        outDir.resolve(ROUND_PREFIX + settings.stepsEnd()),
        settings.stepsEnd());
    out.flush();
    return new Outcome(outcomes, true);
  }

  /**
   * The student steps of the round folders in {@code outDir} that hold a config.json, largest
   * first.
   */
  public static List<Integer> existingRounds(Path outDir) {
    if (!Files.isDirectory(outDir)) {
      return List.of();
    }
    try (Stream<Path> entries = Files.list(outDir)) {
      return entries
          .filter(p -> Files.isRegularFile(p.resolve(RunDirectory.CONFIG)))
          .map(p -> ROUND.matcher(p.getFileName().toString()))
          .filter(Matcher::matches)
          .map(m -> Integer.parseInt(m.group(1)))
          .sorted(java.util.Comparator.reverseOrder())
          .toList();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + outDir, e);
    }
  }
}
