package org.tfdiffusion.cli.train;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import org.tfdiffusion.cli.CommandLineErrors;
import org.tfdiffusion.cli.LossWeightingOption;
import org.tfdiffusion.cli.ModelOptions;
import org.tfdiffusion.cli.NamedOption;
import org.tfdiffusion.cli.ProgressOptions;
import org.tfdiffusion.cli.XlaOption;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.LossWeighting;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.nn.ConvKernels;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.train.DistributedTraining;
import org.tfdiffusion.train.TrainPreset;
import org.tfdiffusion.train.Trainer;
import org.tfdiffusion.train.cluster.ClusterSpec;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code train}: trains a U-Net from a preset and options, or resumes a run. Also a main class of
 * its own: the worker tasks of {@code bench-cluster} run it.
 */
@Command(
    name = "train",
    mixinStandardHelpOptions = true,
    sortOptions = false,
    description = {
      "Train a DDPM U-Net. Presets: demo (minutes on a CPU, embedded Fashion-MNIST "
          + "subset), fashion-mnist (the full training split from apt-get install "
          + "dataset-fashion-mnist), tutorial (the tutorial's 32x32x3 model). Any option "
          + "overrides the preset. A run folder holds config.json, metrics.csv, tensorboard/, "
          + "samples/ and checkpoints/.",
    })
public class TrainCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(
      names = "--preset",
      defaultValue = "demo",
      converter = NamedOption.Preset.class,
      completionCandidates = NamedOption.Preset.class,
      description = "demo, fashion-mnist or tutorial (default: ${DEFAULT-VALUE}).")
  TrainPreset preset;

  @Option(
      names = "--data",
      description =
          "embedded, a folder with the four IDX files, or an image folder (labels from"
              + " sub-folders) (default: the preset's; finetune: the parent's).")
  String data;

  @Option(
      names = "--split",
      converter = NamedOption.SplitName.class,
      completionCandidates = NamedOption.SplitName.class,
      description = "IDX split: train or test.")
  Split split;

  @Option(
      names = "--fit",
      converter = NamedOption.Fit.class,
      completionCandidates = NamedOption.Fit.class,
      description = "How images reach the model size: auto, pad, center-crop, resize.")
  FitMode fit;

  @Option(names = "--flip", negatable = true, description = "Random horizontal flips.")
  Boolean flip;

  @Option(
      names = "--run-dir",
      description =
          "The run folder (default: runs/<preset>-<time>; finetune: runs/finetune-<time>).")
  Path runDir;

  @Option(
      names = "--resume",
      description = {
        "Continue the run in --run-dir from its newest intact checkpoint (from step 0 "
            + "when it stopped before its first one), with the settings of its config.json. "
            + "Taken from the command line: --steps, --log-every, --checkpoint-every, "
            + "--keep-checkpoints, --sample-every, --sample-count, --sampler, --sampler-steps "
            + "(recorded in config.json) and how this process runs (--progress, --xla, --conv, "
            + "--bf16, the cluster options). Any other run setting given with another value "
            + "than the run's is an error.",
      })
  boolean resume;

  @Option(
      names = "--restart",
      description =
          "Start the run in --run-dir over with the options given now: for a run that stopped"
              + " before its first checkpoint (its config.json, metrics and samples are replaced;"
              + " a run with checkpoints is refused).")
  boolean restart;

  @Option(names = "--steps", description = "Total optimizer steps of the run.")
  Integer steps;

  @Option(names = "--batch-size", description = "Images per optimizer step.")
  Integer batchSize;

  @Option(names = "--accumulation", description = "Micro-batches per step (gradient accumulation).")
  Integer accumulation;

  @Option(names = "--seed", description = "Seed of the weights, the data order and all noise.")
  Long seed;

  @Option(names = "--lr", description = "Peak learning rate (the tutorial's: 1e-4).")
  Double learningRate;

  @Option(names = "--weight-decay", description = "AdamW's decoupled weight decay (default: 0.01).")
  Double weightDecay;

  @Option(names = "--clip-norm", description = "Clip gradients to this global norm; 0 = off.")
  Double clipNorm;

  @Option(names = "--warmup", description = "Linear learning-rate warm-up steps.")
  Integer warmup;

  @Option(names = "--cosine", negatable = true, description = "Cosine learning-rate decay.")
  Boolean cosine;

  @Option(names = "--min-lr", description = "Learning rate at the end of the cosine decay.")
  Double minLearningRate;

  @Option(
      names = "--ema-decay",
      description =
          "Decay of the EMA weights used for samples and exports; 0 keeps no EMA copy (saves one"
              + " copy of the weights' memory: samples and exports use the weights).")
  Double emaDecay;

  @Option(
      names = "--ema-warmup",
      negatable = true,
      description =
          "Start the EMA with a smaller decay, min(decay, (1 + n)/(10 + n)), so the average forgets"
              + " the random start (on in every preset).")
  Boolean emaWarmup;

  @Option(
      names = "--ema-power",
      paramLabel = "GAMMA",
      description =
          "A power-function EMA (Karras et al. 2024) instead of a fixed decay: step n decays by"
              + " (1 - 1/n)^(GAMMA + 1), an average whose width is the same share of any run"
              + " length (6.94: about the last tenth; 16.97: the last twentieth).")
  Double emaPower;

  @Option(
      names = "--prediction",
      converter = NamedOption.PredictionType.class,
      completionCandidates = NamedOption.PredictionType.class,
      description = "What the model predicts: epsilon, sample, v_prediction.")
  Prediction prediction;

  @Option(
      names = "--loss-weighting",
      converter = LossWeightingOption.class,
      description =
          "How the loss weights its timesteps: uniform (the tutorial's) or min-snr-GAMMA"
              + " (Min-SNR-γ, Hang et al. 2023; min-snr = min-snr-5) (default: the preset's; finetune: the parent's).")
  LossWeighting lossWeighting;

  @Option(
      names = "--schedule",
      converter = NamedOption.Schedule.class,
      completionCandidates = NamedOption.Schedule.class,
      description =
          "Noise schedule: linear (the tutorial's, beta 1e-4..0.02), cosine (Nichol & Dhariwal"
              + " 2021), scaled_linear or sigmoid (default: the preset's; finetune: the parent's).")
  BetaSchedule schedule;

  @Option(names = "--log-every", description = "Steps between metrics rows.")
  Integer logEvery;

  @Option(names = "--checkpoint-every", description = "Steps between checkpoints (0 = at the end).")
  Integer checkpointEvery;

  @Option(names = "--keep-checkpoints", description = "How many recent checkpoints to keep.")
  Integer keepCheckpoints;

  @Option(names = "--sample-every", description = "Steps between sample grids (0 = at the end).")
  Integer sampleEvery;

  @Option(names = "--sample-count", description = "Images per sample grid.")
  Integer sampleCount;

  @Option(
      names = "--sampler",
      converter = NamedOption.Sampler.class,
      completionCandidates = NamedOption.Sampler.class,
      description =
          "Sampler of the grids: ddpm, ddim, dpmpp, dpmpp-sde, dpm-solver, unipc, euler, euler-ancestral, heun, lms, pndm, deis.")
  SamplerKind sampler;

  @Option(names = "--sampler-steps", description = "Steps of that sampler.")
  Integer samplerSteps;

  @Option(
      names = "--conditional",
      negatable = true,
      description =
          "Train on the dataset's class labels (default: the preset's; finetune: the parent's).")
  Boolean conditional;

  @Option(
      names = "--p-uncond",
      description = "Probability of the null label in training (default: 0.1).")
  Double pUncond;

  @Option(names = "--guidance", description = "Guidance scale of the sample grids (default: 3).")
  Double guidance;

  @Mixin ModelOptions model;

  @Mixin ProgressOptions progress;

  @Mixin XlaOption xla;

  @Option(
      names = "--conv",
      paramLabel = "KERNELS",
      defaultValue = "auto",
      description = {
        "Convolution kernels of the training step: auto, onednn or tensorflow"
            + " (default: ${DEFAULT-VALUE}).",
        "auto: oneDNN's kernels (built where g++ and libdnnl-dev are installed)"
            + " for a float32 step in one process, else TensorFlow's Conv2D."
      })
  String conv;

  @Option(
      names = "--bf16",
      description =
          "bfloat16 auto mixed precision (oneDNN); turns XLA off unless --xla is given too.")
  boolean bf16;

  @Option(
      names = "--cluster",
      paramLabel = "SPEC",
      description = {
        "Train data-parallel on a TensorFlow cluster, one process per task: "
            + "worker=host1:port,host2:port (or chief=host0:port;worker=...). Run the same "
            + "command with --task 0 (the chief: data, checkpoints, logs) and --task 1.. on the "
            + "others (default: the TF_CONFIG environment variable when it is set).",
      })
  String cluster;

  @Option(
      names = "--task",
      description = "This process's task in --cluster, counted from 0 (the chief).")
  Integer task;

  @Option(
      names = "--connect-timeout",
      paramLabel = "SECONDS",
      description = "How long the chief waits for every task to start (default: 60).")
  Long connectTimeout;

  @Option(
      names = "--step-timeout",
      paramLabel = "SECONDS",
      description =
          "The most any one call to the cluster (a step, a sample grid) may take (default: 300).")
  Long stepTimeout;

  /** The defaults of every preset, for the help footer. */
  static String presetDefaults() {
    StringBuilder s =
        new StringBuilder("%nDefaults by preset (any option above overrides them):%n");
    String row = "  %-18s" + " %-19s".repeat(TrainPreset.values().length) + "%n";
    Object[] header = new Object[TrainPreset.values().length + 1];
    header[0] = "";
    for (int i = 0; i < TrainPreset.values().length; i++) {
      header[i + 1] = TrainPreset.values()[i].configName();
    }
    s.append(String.format(row, header).replace("%", "%%"));
    String[][] fields = {
      {"--data"},
      {"model"},
      {"--steps"},
      {"--batch-size"},
      {"--lr"},
      {"--warmup"},
      {"--cosine"},
      {"--weight-decay"},
      {"--clip-norm"},
      {"--ema-decay"},
      {"--loss-weighting"},
      {"--schedule"},
      {"--flip"},
      {"--checkpoint-every"},
      {"--sample-every"},
      {"--sampler"}
    };
    for (String[] field : fields) {
      Object[] values = new Object[TrainPreset.values().length + 1];
      values[0] = field[0];
      for (int i = 0; i < TrainPreset.values().length; i++) {
        TrainConfig c = TrainPreset.values()[i].config();
        values[i + 1] =
            switch (field[0]) {
              case "--data" ->
                  c.data().source().startsWith("/usr/share/datasets/")
                      ? "Debian's package"
                      : c.data().source();
              case "model" ->
                  String.format(
                      "%dx%dx%d w%d L%d",
                      c.model().imageSize(),
                      c.model().imageSize(),
                      c.model().channels(),
                      c.model().baseWidth(),
                      c.model().levels());
              case "--steps" -> c.training().steps();
              case "--batch-size" -> c.training().batchSize();
              case "--lr" -> c.optimizer().learningRate();
              case "--warmup" -> c.optimizer().warmupSteps();
              case "--cosine" -> c.optimizer().cosineDecay();
              case "--weight-decay" -> c.optimizer().weightDecay();
              case "--clip-norm" -> c.optimizer().clipNorm();
              case "--ema-decay" -> c.ema().decay();
              case "--loss-weighting" -> c.loss();
              case "--schedule" -> c.schedule().kind().configName();
              case "--flip" -> c.data().flip();
              case "--checkpoint-every" -> c.training().checkpointEvery();
              case "--sample-every" -> c.training().sampleEvery();
              case "--sampler" ->
                  c.training().sampler().configName()
                      + " "
                      + c.training().samplerSteps()
                      + " steps";
              default -> "";
            };
      }
      s.append(String.format(row, values).replace("%", "%%"));
    }
    s.append(
        "Every preset: --seed 0, --accumulation 1, --keep-checkpoints 3,%n"
            + "--prediction epsilon, T = 1000 (linear: beta 1e-4..0.02).%n"
            + "model: size x size x channels, w = base width, L = levels.%n"
            + "Debian's package: /usr/share/datasets/fashion-mnist%n"
            + "(apt-get install dataset-fashion-mnist).%n");
    return s.toString();
  }

  @Override
  public Integer call() {
    if (resume && restart) {
      throw new IllegalArgumentException(
          "--resume and --restart exclude each other: --resume continues the run in --run-dir,"
              + " --restart starts it over");
    }
    if ((resume || restart) && runDir == null) {
      throw new IllegalArgumentException(
          (resume ? "--resume" : "--restart") + " needs the --run-dir of the run");
    }
    PrintWriter out = spec.commandLine().getOut();
    Optional<DistributedTraining> distributed = distributed();
    if (distributed.isPresent() && !distributed.get().cluster().isChief()) {
      distributed.get().serve(out);
      return 0;
    }
    // every check of the options before waiting for the other tasks of a cluster
    Optional<ResumeSettings.Resumed> resumed =
        resume
            ? Optional.of(
                ResumeSettings.apply(
                    RunDirectory.open(runDir).config(),
                    spec.commandLine().getParseResult().matchedOptions(),
                    runDir))
            : Optional.empty();
    if (distributed.isPresent() && !resume) {
      distributed.get().check(config());
    }
    distributed.ifPresent(d -> d.startChief(out));
    Trainer trainer =
        new Trainer(
            out,
            progress.progress(),
            SessionOptions.defaults()
                .withFlags(
                    xla.xla(),
                    spec.commandLine().getParseResult().hasMatchedOption(XlaOption.NAME),
                    bf16)
                .withNativeConvolutions(
                    ConvKernels.parse(conv).resolve(distributed.isPresent(), bf16)),
            distributed);
    if (resumed.isPresent()) {
      List<String> changes = resumed.get().changes();
      out.printf(
          "resume: the run's settings from %s%s%n",
          runDir.resolve(RunDirectory.CONFIG),
          changes.isEmpty() ? "" : "; from the command line: " + String.join(", ", changes));
      out.flush();
      TrainConfig settings = resumed.get().config();
      trainer.resume(runDir, recorded -> settings);
      return 0;
    }
    TrainConfig config = config();
    if (restart) {
      trainer.restart(runDir, config);
      return 0;
    }
    Path dir =
        runDir != null
            ? runDir
            : Path.of(
                "runs",
                config.preset()
                    + "-"
                    + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    trainer.train(dir, config);
    return 0;
  }

  /** The cluster of --cluster/--task, or of TF_CONFIG; empty to train in this process. */
  Optional<DistributedTraining> distributed() {
    Optional<ClusterSpec> spec;
    if (cluster != null) {
      if (task == null) {
        throw new IllegalArgumentException(
            "--cluster needs --task: 0 on the chief, 1, 2, ... on the other tasks");
      }
      spec = Optional.of(ClusterSpec.parse(cluster, task));
    } else {
      if (task != null) {
        throw new IllegalArgumentException("--task needs --cluster (or TF_CONFIG)");
      }
      spec = ClusterSpec.fromEnvironment();
    }
    if (spec.isEmpty()) {
      if (connectTimeout != null || stepTimeout != null) {
        throw new IllegalArgumentException(
            "--connect-timeout and --step-timeout need --cluster (or TF_CONFIG)");
      }
      return Optional.empty();
    }
    return Optional.of(
        new DistributedTraining(
            spec.get(),
            seconds(connectTimeout, DistributedTraining.DEFAULT_CONNECT_TIMEOUT),
            seconds(stepTimeout, DistributedTraining.DEFAULT_STEP_TIMEOUT)));
  }

  private static java.time.Duration seconds(Long given, java.time.Duration fallback) {
    if (given == null) {
      return fallback;
    }
    if (given <= 0) {
      throw new IllegalArgumentException("timeouts are seconds > 0, got " + given);
    }
    return java.time.Duration.ofSeconds(given);
  }

  /** The config the options start from: the preset's. */
  TrainConfig baseConfig() {
    return preset.config();
  }

  /** The base config with every given option applied. */
  TrainConfig config() {
    TrainConfig base = baseConfig();
    TrainConfig.Data d = base.data();
    TrainConfig.Optimizer o = base.optimizer();
    TrainConfig.Training t = base.training();
    return new TrainConfig(
        TrainConfig.FORMAT,
        model.apply(base.model()),
        schedule == null
            ? base.schedule()
            : new TrainConfig.Schedule(
                schedule,
                base.schedule().timesteps(),
                base.schedule().betaStart(),
                base.schedule().betaEnd()),
        or(prediction, base.prediction()),
        new TrainConfig.Data(
            or(data, d.source()), or(split, d.split()), or(fit, d.fit()), or(flip, d.flip())),
        new TrainConfig.Optimizer(
            or(learningRate, o.learningRate()),
            o.beta1(),
            o.beta2(),
            o.epsilon(),
            or(weightDecay, o.weightDecay()),
            or(clipNorm, o.clipNorm()),
            or(warmup, o.warmupSteps()),
            or(cosine, o.cosineDecay()),
            Math.min(or(minLearningRate, o.minLearningRate()), or(learningRate, o.learningRate()))),
        ema(base.ema()),
        new TrainConfig.Training(
            or(steps, t.steps()),
            or(batchSize, t.batchSize()),
            or(accumulation, t.accumulation()),
            or(seed, t.seed()),
            or(logEvery, t.logEvery()),
            or(checkpointEvery, t.checkpointEvery()),
            or(keepCheckpoints, t.keepCheckpoints()),
            or(sampleEvery, t.sampleEvery()),
            or(sampleCount, t.sampleCount()),
            or(sampler, t.sampler()),
            or(samplerSteps, t.samplerSteps())),
        conditioning(base.conditioning()),
        base.fineTune(),
        base.preset(),
        or(lossWeighting, base.loss()));
  }

  private TrainConfig.Conditioning conditioning(TrainConfig.Conditioning base) {
    boolean on = or(conditional, base.enabled());
    if (!on) {
      if (pUncond != null || guidance != null) {
        throw new IllegalArgumentException("--p-uncond and --guidance need --conditional");
      }
      return TrainConfig.Conditioning.none();
    }
    return new TrainConfig.Conditioning(
        true,
        or(pUncond, base.enabled() ? base.pUncond() : TrainConfig.Conditioning.DEFAULT_P_UNCOND),
        or(guidance, base.enabled() ? base.guidance() : 3.0),
        java.util.List.of());
  }

  /** The EMA the options ask for, starting from {@code base}. */
  private TrainConfig.Ema ema(TrainConfig.Ema base) {
    if (emaPower != null) {
      if (emaDecay != null || emaWarmup != null) {
        throw new IllegalArgumentException(
            "--ema-power replaces the fixed decay: give it without --ema-decay and --ema-warmup");
      }
      return TrainConfig.Ema.powerFunction(emaPower);
    }
    if (base.isPowerFunction() && emaDecay == null) {
      if (emaWarmup != null) {
        throw new IllegalArgumentException(
            "this run's EMA is a power function (--ema-power); --ema-warmup needs --ema-decay");
      }
      return base;
    }
    return new TrainConfig.Ema(or(emaDecay, base.decay()), or(emaWarmup, base.warmup()));
  }

  private static <T> T or(T given, T fallback) {
    return given != null ? given : fallback;
  }

  /**
   * The command line with clear errors for bad input: one line, exit status 2 (see {@link
   * CommandLineErrors}).
   */
  public static CommandLine commandLine(Object command) {
    return configure(new CommandLine(command));
  }

  /** {@link #commandLine(Object)} for a command line built by the caller. */
  public static CommandLine configure(CommandLine cli) {
    CommandLine train =
        cli.getCommandSpec().userObject() instanceof TrainCommand
            ? cli
            : cli.getSubcommands().get("train");
    if (train != null) {
      train.getCommandSpec().usageMessage().footer(presetDefaults());
    }
    // finetune starts from its parent's settings: a preset would be ignored, so it has none
    CommandLine finetune = cli.getSubcommands().get("finetune");
    if (finetune != null && finetune.getCommandSpec().findOption("--preset") != null) {
      finetune.getCommandSpec().remove(finetune.getCommandSpec().findOption("--preset"));
    }
    return CommandLineErrors.install(cli);
  }

  /** {@code train} alone, e.g. a task of a cluster ({@code --cluster ... --task 1}). */
  public static void main(String[] args) {
    int status = commandLine(new TrainCommand()).execute(args);
    if (status != 0) {
      System.exit(status);
    }
  }
}
