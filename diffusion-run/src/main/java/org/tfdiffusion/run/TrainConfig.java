package org.tfdiffusion.run;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import org.tfdiffusion.data.FitMode;
import org.tfdiffusion.data.Split;
import org.tfdiffusion.diffusion.LossWeighting;
import org.tfdiffusion.diffusion.Prediction;
import org.tfdiffusion.model.UNetConfig;
import org.tfdiffusion.naming.Named;
import org.tfdiffusion.optim.AdamWConfig;
import org.tfdiffusion.sampling.Sampler;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.schedule.BetaSchedule;
import org.tfdiffusion.schedule.NoiseSchedule;

/**
 * Everything a training run needs, saved as the run's {@code config.json}: enough to rebuild the
 * model, its schedule and the run. Immutable and validated; every nested part has defaults.
 *
 * @param format the file format version
 * @param model the U-Net
 * @param schedule the noise schedule
 * @param prediction what the network predicts: epsilon (the tutorial), sample or v_prediction
 * @param data where the images come from
 * @param optimizer AdamW, clipping and the learning-rate schedule
 * @param ema the moving average of the weights used for samples and exports
 * @param training steps, batch, seed, logging, checkpoints and sample grids
 * @param conditioning class labels, label dropout and guidance
 * @param fineTune where the starting weights come from, and which are frozen (none for a run from
 *     scratch)
 * @param preset the preset this config started from, for the record
 * @param loss how the loss weights its timesteps (uniform by default, as the tutorial)
 * @param distillation for a round of progressive distillation: the student's steps and how the
 *     teacher's targets are guided ({@link Distillation#none()} for every other run)
 */
public record TrainConfig(
    int format,
    UNetConfig model,
    Schedule schedule,
    Prediction prediction,
    Data data,
    Optimizer optimizer,
    Ema ema,
    Training training,
    Conditioning conditioning,
    FineTune fineTune,
    String preset,
    LossWeighting loss,
    Distillation distillation) {

  /** The current config.json format. */
  public static final int FORMAT = 1;

  /** A config with the tutorial's uniform loss weighting. */
  public TrainConfig(
      int format,
      UNetConfig model,
      Schedule schedule,
      Prediction prediction,
      Data data,
      Optimizer optimizer,
      Ema ema,
      Training training,
      Conditioning conditioning,
      FineTune fineTune,
      String preset) {
    this(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        LossWeighting.uniform());
  }

  /** A config of a run that is not a distillation round. */
  public TrainConfig(
      int format,
      UNetConfig model,
      Schedule schedule,
      Prediction prediction,
      Data data,
      Optimizer optimizer,
      Ema ema,
      Training training,
      Conditioning conditioning,
      FineTune fineTune,
      String preset,
      LossWeighting loss) {
    this(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        Distillation.none());
  }

  public TrainConfig {
    checkArgument(
        format == FORMAT,
        "config format %s is not supported (this build reads %s)",
        format,
        FORMAT);
    checkArgument(model != null, "config.json has no model");
    checkArgument(
        schedule != null && data != null && optimizer != null && ema != null && training != null,
        "config.json is missing a section (schedule, data, optimizer, ema or training)");
    checkArgument(
        prediction != null, "prediction type is null; valid: %s", Prediction.validNames());
    if (conditioning == null) {
      conditioning = Conditioning.none();
    }
    if (fineTune == null) {
      fineTune = FineTune.none();
    }
    if (loss == null) {
      loss = LossWeighting.uniform();
    }
    if (distillation == null) {
      distillation = Distillation.none();
    }
    checkArgument(
        !distillation.active() || fineTune.active(),
        "a distillation round needs its teacher as the run's parent (fineTune.parentRun)");
    checkArgument(
        !model.conditional() || conditioning.enabled(),
        "the model has %s classes but conditioning is off",
        model.numClasses());
    checkArgument(
        conditioning.classNames().isEmpty()
            || conditioning.classNames().size() == model.numClasses(),
        "%s class names for a model with %s classes",
        conditioning.classNames().size(),
        model.numClasses());
  }

  /**
   * A builder that starts from the tutorial's run: its U-Net, linear noise schedule, ε-prediction,
   * the embedded data, AdamW ({@link Optimizer#tutorial()}), EMA 0.999 with warm-up, its loop
   * ({@link Training#tutorial()}), no conditioning, no fine-tuning, the uniform loss, no preset
   * name.
   */
  public static Builder builder() {
    return new Builder();
  }

  /** Sets a {@link TrainConfig}'s parts by name; {@link #build} validates them together. */
  public static final class Builder {
    private UNetConfig model = UNetConfig.tutorial();
    private Schedule schedule = Schedule.tutorial();
    private Prediction prediction = Prediction.EPSILON;
    private Data data = Data.embedded();
    private Optimizer optimizer = Optimizer.tutorial();
    private Ema ema = new Ema(0.999, true);
    private Training training = Training.tutorial();
    private Conditioning conditioning = Conditioning.none();
    private FineTune fineTune = FineTune.none();
    private String preset = "";
    private LossWeighting loss = LossWeighting.uniform();
    private Distillation distillation = Distillation.none();

    private Builder() {}

    public Builder model(UNetConfig value) {
      model = value;
      return this;
    }

    public Builder schedule(Schedule value) {
      schedule = value;
      return this;
    }

    /** What the network predicts: epsilon, sample or v_prediction. */
    public Builder prediction(Prediction value) {
      prediction = value;
      return this;
    }

    public Builder data(Data value) {
      data = value;
      return this;
    }

    public Builder optimizer(Optimizer value) {
      optimizer = value;
      return this;
    }

    public Builder ema(Ema value) {
      ema = value;
      return this;
    }

    public Builder training(Training value) {
      training = value;
      return this;
    }

    public Builder conditioning(Conditioning value) {
      conditioning = value;
      return this;
    }

    public Builder fineTune(FineTune value) {
      fineTune = value;
      return this;
    }

    /** The name of the preset the config started from. */
    public Builder preset(String value) {
      preset = value;
      return this;
    }

    public Builder loss(LossWeighting value) {
      loss = value;
      return this;
    }

    public Builder distillation(Distillation value) {
      distillation = value;
      return this;
    }

    public TrainConfig build() {
      return new TrainConfig(
          FORMAT,
          model,
          schedule,
          prediction,
          data,
          optimizer,
          ema,
          training,
          conditioning,
          fineTune,
          preset,
          loss,
          distillation);
    }
  }

  /**
   * Class conditioning (Ho &amp; Salimans 2022).
   *
   * @param enabled train on the dataset's labels; the number of classes and their names come from
   *     the data when the run starts
   * @param pUncond the probability that a training label is replaced by the null label, so one
   *     model is both conditional and unconditional
   * @param guidance the guidance scale w of sample grids (0 = unconditional, 1 = plain conditional)
   * @param classNames the class names, index = label (filled in from the data)
   */
  public record Conditioning(
      boolean enabled, double pUncond, double guidance, java.util.List<String> classNames) {
    /** The default probability of the null label while training. */
    public static final double DEFAULT_P_UNCOND = 0.1;

    public Conditioning {
      checkArgument(pUncond >= 0 && pUncond < 1, "--p-uncond must be in [0, 1), got %s", pUncond);
      checkArgument(
          Double.isFinite(guidance) && guidance >= 0, "--guidance must be >= 0, got %s", guidance);
      classNames = classNames == null ? java.util.List.of() : java.util.List.copyOf(classNames);
    }

    /** Unconditional. */
    public static Conditioning none() {
      return new Conditioning(false, 0, 0, java.util.List.of());
    }

    /** Conditional with label dropout 0.1 and the given grid guidance. */
    public static Conditioning labels(double guidance) {
      return new Conditioning(true, DEFAULT_P_UNCOND, guidance, java.util.List.of());
    }

    /** The index of a class given by name or number. */
    public int classIndex(String nameOrIndex) {
      String key = nameOrIndex.trim();
      for (int i = 0; i < classNames.size(); i++) {
        if (classNames.get(i).equalsIgnoreCase(key)) {
          return i;
        }
      }
      try {
        int index = Integer.parseInt(key);
        checkArgument(
            index >= 0 && index < classNames.size(),
            "class %s is out of range: this model has classes 0..%s (%s)",
            index,
            classNames.size() - 1,
            String.join(", ", classNames));
        return index;
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException(
            "unknown class '"
                + nameOrIndex
                + "'; valid: "
                + String.join(", ", classNames)
                + " (or their indices 0.."
                + (classNames.size() - 1)
                + ")");
      }
    }
  }

  /**
   * Fine-tuning: the run starts from another run's weights.
   *
   * @param parentRun the parent run folder ("" for a run from scratch)
   * @param parentStep the step of the parent checkpoint the weights came from
   * @param weights ema or raw: which of the parent's weights
   * @param frozen weight-name prefixes that are not trained (e.g. input_conv, input_block, down_)
   */
  public record FineTune(
      String parentRun, long parentStep, TrainedModel.Weights weights, List<String> frozen) {
    public FineTune {
      parentRun = parentRun == null ? "" : parentRun;
      weights = weights == null ? TrainedModel.Weights.EMA : weights;
      frozen = frozen == null ? List.of() : List.copyOf(frozen);
    }

    /** A run from scratch. */
    public static FineTune none() {
      return new FineTune("", 0, TrainedModel.Weights.EMA, List.of());
    }

    /** Whether this run starts from a parent. */
    public boolean active() {
      return !parentRun.isEmpty();
    }

    /** Whether the weight {@code name} is frozen. */
    public boolean frozen(String name) {
      return frozen.stream().anyMatch(name::startsWith);
    }
  }

  /** This config with another model. */
  public TrainConfig withModel(UNetConfig newModel) {
    return new TrainConfig(
        format,
        newModel,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with other loop settings. */
  public TrainConfig withTraining(Training newTraining) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        newTraining,
        conditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with other conditioning. */
  public TrainConfig withConditioning(Conditioning newConditioning) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        newConditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with another fine-tuning origin. */
  public TrainConfig withFineTune(FineTune newFineTune) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        newFineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with another dataset. */
  public TrainConfig withData(Data newData) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        newData,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with another optimizer. */
  public TrainConfig withOptimizer(Optimizer newOptimizer) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        newOptimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with another loss weighting. */
  public TrainConfig withLoss(LossWeighting newLoss) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        newLoss,
        distillation);
  }

  /** This config with another noise schedule. */
  public TrainConfig withSchedule(Schedule newSchedule) {
    return new TrainConfig(
        format,
        model,
        newSchedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config with another EMA. */
  public TrainConfig withEma(Ema newEma) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        newEma,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        distillation);
  }

  /** This config as a distillation round (or not, with {@link Distillation#none()}). */
  public TrainConfig withDistillation(Distillation newDistillation) {
    return new TrainConfig(
        format,
        model,
        schedule,
        prediction,
        data,
        optimizer,
        ema,
        training,
        conditioning,
        fineTune,
        preset,
        loss,
        newDistillation);
  }

  /**
   * A round of progressive distillation (Salimans &amp; Ho 2022, Algorithm 2): the run's model is
   * the student, initialised from the teacher (the run's {@link FineTune} parent), which learns to
   * take in one deterministic DDIM step what the teacher takes in two. The student samples with
   * {@code ddim} at {@code steps} steps.
   *
   * @param steps N, the student's DDIM steps (the teacher's are 2N); 0 = not a distillation
   * @param finalSteps the student steps of the last round of the distillation this round is part of
   *     (a later round halves N until it reaches them)
   * @param teacherGuidance w of the teacher's targets, {@code ε̂ = ε(∅) + w (ε(y) - ε(∅))} (1 = the
   *     plain conditional teacher, no guidance; unconditional models ignore it)
   * @param guidanceDistilled whether the guided teacher is distilled into the student, which then
   *     samples without guidance (w = 1); otherwise the teacher's targets are unguided and the
   *     student keeps the teacher's guidance scale for sampling
   */
  public record Distillation(
      int steps, int finalSteps, double teacherGuidance, boolean guidanceDistilled) {
    public Distillation {
      checkArgument(steps >= 0, "distillation steps must be >= 0, got %s", steps);
      checkArgument(
          steps == 0 || (finalSteps >= 1 && finalSteps <= steps),
          "the last round's steps must be in [1, %s], got %s",
          steps,
          finalSteps);
      checkArgument(
          Double.isFinite(teacherGuidance) && teacherGuidance >= 0,
          "the teacher's guidance must be >= 0, got %s",
          teacherGuidance);
    }

    /** Not a distillation round. */
    public static Distillation none() {
      return new Distillation(0, 0, 1, false);
    }

    /** Whether the run is a distillation round. */
    public boolean active() {
      return steps > 0;
    }

    /** The teacher's DDIM steps, 2N. */
    public int teacherSteps() {
      return 2 * steps;
    }
  }

  /** The noise schedule, as in the tutorial by default. */
  public record Schedule(BetaSchedule kind, int timesteps, double betaStart, double betaEnd) {
    public Schedule {
      checkArgument(kind != null, "beta schedule is null; valid: %s", BetaSchedule.validNames());
    }

    public static Schedule tutorial() {
      return new Schedule(
          BetaSchedule.LINEAR,
          NoiseSchedule.DEFAULT_TIMESTEPS,
          NoiseSchedule.DEFAULT_BETA_START,
          NoiseSchedule.DEFAULT_BETA_END);
    }

    /**
     * Nichol &amp; Dhariwal's cosine schedule over the tutorial's 1000 timesteps (β start and end
     * are recorded as the tutorial's but unused: the cosine schedule has none).
     */
    public static Schedule cosine() {
      return new Schedule(
          BetaSchedule.COSINE,
          NoiseSchedule.DEFAULT_TIMESTEPS,
          NoiseSchedule.DEFAULT_BETA_START,
          NoiseSchedule.DEFAULT_BETA_END);
    }

    public NoiseSchedule build() {
      return NoiseSchedule.create(kind, timesteps, betaStart, betaEnd);
    }
  }

  /**
   * The dataset.
   *
   * @param source "embedded", a folder with the four IDX files, or an image folder
   * @param split train or test (IDX)
   * @param fit how images reach the model's size: auto, pad, center-crop or resize
   * @param flip random horizontal flips
   */
  public record Data(String source, Split split, FitMode fit, boolean flip) {
    public Data {
      checkArgument(split != null, "split is null; valid: %s", Named.validNames(Split.class));
      checkArgument(fit != null, "fit mode is null; valid: %s", Named.validNames(FitMode.class));
    }

    public static Data embedded() {
      return new Data("embedded", Split.TRAIN, FitMode.AUTO, false);
    }
  }

  /**
   * The optimizer and its learning-rate schedule.
   *
   * @param learningRate peak learning rate (the tutorial's 1e-4)
   * @param warmupSteps linear warm-up from 0 over this many steps
   * @param cosineDecay decay to minLearningRate by the last step, along a half cosine
   */
  public record Optimizer(
      double learningRate,
      double beta1,
      double beta2,
      double epsilon,
      double weightDecay,
      double clipNorm,
      int warmupSteps,
      boolean cosineDecay,
      double minLearningRate) {
    public Optimizer {
      checkArgument(
          learningRate > 0 && Double.isFinite(learningRate),
          "learning rate must be finite and > 0, got %s",
          learningRate);
      checkArgument(warmupSteps >= 0, "warm-up steps must be >= 0, got %s", warmupSteps);
      checkArgument(
          minLearningRate >= 0 && minLearningRate <= learningRate,
          "min learning rate must be in [0, learning rate], got %s",
          minLearningRate);
      new AdamWConfig(beta1, beta2, epsilon, weightDecay, clipNorm); // validates
    }

    /** The tutorial's AdamW: lr 1e-4, weight decay 0.01, plus clipping at norm 1. */
    public static Optimizer tutorial() {
      AdamWConfig d = AdamWConfig.defaults();
      return new Optimizer(
          AdamWConfig.DEFAULT_LEARNING_RATE,
          d.beta1(),
          d.beta2(),
          d.epsilon(),
          d.weightDecay(),
          d.clipNorm(),
          0,
          false,
          0);
    }

    public AdamWConfig adamW() {
      return new AdamWConfig(beta1, beta2, epsilon, weightDecay, clipNorm);
    }

    /** A builder that starts from the tutorial's AdamW ({@link #tutorial()}). */
    public static Builder builder() {
      return tutorial().toBuilder();
    }

    /** A builder that starts from these settings, to change a few of them. */
    public Builder toBuilder() {
      return new Builder(this);
    }

    /** Sets an {@link Optimizer}'s settings by name; {@link #build} validates them together. */
    public static final class Builder {
      private double learningRate;
      private double beta1;
      private double beta2;
      private double epsilon;
      private double weightDecay;
      private double clipNorm;
      private int warmupSteps;
      private boolean cosineDecay;
      private double minLearningRate;

      private Builder(Optimizer o) {
        learningRate = o.learningRate;
        beta1 = o.beta1;
        beta2 = o.beta2;
        epsilon = o.epsilon;
        weightDecay = o.weightDecay;
        clipNorm = o.clipNorm;
        warmupSteps = o.warmupSteps;
        cosineDecay = o.cosineDecay;
        minLearningRate = o.minLearningRate;
      }

      /** The peak learning rate. */
      public Builder learningRate(double value) {
        learningRate = value;
        return this;
      }

      public Builder beta1(double value) {
        beta1 = value;
        return this;
      }

      public Builder beta2(double value) {
        beta2 = value;
        return this;
      }

      public Builder epsilon(double value) {
        epsilon = value;
        return this;
      }

      public Builder weightDecay(double value) {
        weightDecay = value;
        return this;
      }

      /** Gradients are clipped to this global norm. */
      public Builder clipNorm(double value) {
        clipNorm = value;
        return this;
      }

      /** Linear warm-up from 0 over this many steps. */
      public Builder warmupSteps(int value) {
        warmupSteps = value;
        return this;
      }

      /** Whether the learning rate decays to the minimum by the last step, along a half cosine. */
      public Builder cosineDecay(boolean value) {
        cosineDecay = value;
        return this;
      }

      public Builder minLearningRate(double value) {
        minLearningRate = value;
        return this;
      }

      public Optimizer build() {
        return new Optimizer(
            learningRate,
            beta1,
            beta2,
            epsilon,
            weightDecay,
            clipNorm,
            warmupSteps,
            cosineDecay,
            minLearningRate);
      }
    }
  }

  /**
   * The moving average of the weights.
   *
   * @param decay the fixed decay in [0, 1) (unused with a power function)
   * @param warmup whether the fixed decay starts lower, min(decay, (1 + n) / (10 + n))
   * @param power the exponent γ &gt; 0 of a power-function average, d_n = (1 - 1/n)^(γ + 1) (Karras
   *     et al. 2024), which replaces the fixed decay and its warm-up; 0 for a fixed decay
   *     (config.json files without the field)
   */
  public record Ema(
      double decay, boolean warmup, @JsonInclude(JsonInclude.Include.NON_DEFAULT) double power) {
    public Ema {
      checkArgument(decay >= 0 && decay < 1, "EMA decay must be in [0, 1), got %s", decay);
      checkArgument(
          power == 0 || (power > 0 && Double.isFinite(power)),
          "--ema-power must be > 0 (0 = the fixed --ema-decay), got %s",
          power);
    }

    /** A fixed decay, with or without warm-up. */
    public Ema(double decay, boolean warmup) {
      this(decay, warmup, 0);
    }

    /** Reads config.json's {@code ema}: files without {@code power} have a fixed decay. */
    @JsonCreator
    static Ema fromJson(
        @JsonProperty("decay") double decay,
        @JsonProperty("warmup") boolean warmup,
        @JsonProperty("power") Double power) {
      return new Ema(decay, warmup, power == null ? 0 : power);
    }

    /** The power-function average of exponent γ. */
    public static Ema powerFunction(double gamma) {
      return new Ema(0, false, gamma);
    }

    /** Whether this is a power-function average. */
    @JsonIgnore
    public boolean isPowerFunction() {
      return power > 0;
    }

    /**
     * False for a fixed decay of 0: the average is the weights, and the run keeps no {@code ema/}
     * copy.
     */
    public boolean keepsShadows() {
      return decay > 0 || power > 0;
    }
  }

  /**
   * The loop.
   *
   * @param steps total optimizer steps of the run
   * @param batchSize images per optimizer step (split into accumulation micro-batches)
   * @param accumulation micro-batches per step (gradient accumulation)
   * @param seed seeds the weights, the data order and every random draw
   * @param logEvery steps between metrics rows and TensorBoard points
   * @param checkpointEvery steps between checkpoints (0 = only at the end)
   * @param keepCheckpoints how many recent checkpoints to keep
   * @param sampleEvery steps between sample grids (0 = only at the end)
   * @param sampleCount images per sample grid
   * @param sampler sampler of the grids: ddpm, ddim or dpmpp
   * @param samplerSteps its steps
   */
  public record Training(
      int steps,
      int batchSize,
      int accumulation,
      long seed,
      int logEvery,
      int checkpointEvery,
      int keepCheckpoints,
      int sampleEvery,
      int sampleCount,
      SamplerKind sampler,
      int samplerSteps) {
    public Training {
      checkArgument(steps >= 1, "--steps must be >= 1, got %s", steps);
      checkArgument(batchSize >= 1, "--batch-size must be >= 1, got %s", batchSize);
      checkArgument(accumulation >= 1, "--accumulation must be >= 1, got %s", accumulation);
      checkArgument(
          batchSize % accumulation == 0,
          "--batch-size %s is not divisible by --accumulation %s; the micro-batches must be equal",
          batchSize,
          accumulation);
      checkArgument(logEvery >= 1, "--log-every must be >= 1, got %s", logEvery);
      checkArgument(checkpointEvery >= 0, "--checkpoint-every must be >= 0 (0 = at the end only)");
      checkArgument(
          keepCheckpoints >= 1, "--keep-checkpoints must be >= 1, got %s", keepCheckpoints);
      checkArgument(sampleEvery >= 0, "--sample-every must be >= 0 (0 = at the end only)");
      checkArgument(sampleCount >= 1, "--sample-count must be >= 1, got %s", sampleCount);
      checkArgument(sampler != null, "sampler is null; valid: %s", SamplerKind.validNames());
      checkArgument(samplerSteps >= 1, "--sampler-steps must be >= 1, got %s", samplerSteps);
    }

    /** Images per micro-batch. */
    public int microBatch() {
      return batchSize / accumulation;
    }

    /** These settings with another number of total steps. */
    public Training withSteps(int newSteps) {
      return toBuilder().steps(newSteps).build();
    }

    /**
     * The tutorial preset's loop: 10000 steps of batch 32 (one micro-batch), seed 0, metrics every
     * 10 steps, a checkpoint every 500 (the newest 3 kept), a grid of 16 every 1000 steps with 20
     * DPM-Solver++ steps.
     */
    public static Training tutorial() {
      return new Training(10000, 32, 1, 0, 10, 500, 3, 1000, 16, SamplerKind.DPMPP, 20);
    }

    /** A builder that starts from the tutorial's loop ({@link #tutorial()}). */
    public static Builder builder() {
      return tutorial().toBuilder();
    }

    /** A builder that starts from these settings, to change a few of them. */
    public Builder toBuilder() {
      return new Builder(this);
    }

    /** Sets a {@link Training}'s settings by name; {@link #build} validates them together. */
    public static final class Builder {
      private int steps;
      private int batchSize;
      private int accumulation;
      private long seed;
      private int logEvery;
      private int checkpointEvery;
      private int keepCheckpoints;
      private int sampleEvery;
      private int sampleCount;
      private SamplerKind sampler;
      private int samplerSteps;

      private Builder(Training t) {
        steps = t.steps;
        batchSize = t.batchSize;
        accumulation = t.accumulation;
        seed = t.seed;
        logEvery = t.logEvery;
        checkpointEvery = t.checkpointEvery;
        keepCheckpoints = t.keepCheckpoints;
        sampleEvery = t.sampleEvery;
        sampleCount = t.sampleCount;
        sampler = t.sampler;
        samplerSteps = t.samplerSteps;
      }

      public Builder steps(int value) {
        steps = value;
        return this;
      }

      /** Images per optimizer step. */
      public Builder batchSize(int value) {
        batchSize = value;
        return this;
      }

      /** Micro-batches per optimizer step (gradient accumulation). */
      public Builder accumulation(int value) {
        accumulation = value;
        return this;
      }

      public Builder seed(long value) {
        seed = value;
        return this;
      }

      /** The batch and its split into {@code accumulation} equal micro-batches. */
      public Builder batch(int size, int micro) {
        batchSize = size;
        accumulation = micro;
        return this;
      }

      public Builder logEvery(int value) {
        logEvery = value;
        return this;
      }

      /** Checkpoint every {@code value} steps (0 = at the end only). */
      public Builder checkpointEvery(int value) {
        checkpointEvery = value;
        return this;
      }

      public Builder keepCheckpoints(int value) {
        keepCheckpoints = value;
        return this;
      }

      /** A sample grid every {@code value} steps (0 = at the end only). */
      public Builder sampleEvery(int value) {
        sampleEvery = value;
        return this;
      }

      public Builder sampleCount(int value) {
        sampleCount = value;
        return this;
      }

      /** The sampler of the grids: ddpm, ddim or dpmpp. */
      public Builder sampler(SamplerKind value) {
        sampler = value;
        return this;
      }

      public Builder samplerSteps(int value) {
        samplerSteps = value;
        return this;
      }

      public Training build() {
        return new Training(
            steps,
            batchSize,
            accumulation,
            seed,
            logEvery,
            checkpointEvery,
            keepCheckpoints,
            sampleEvery,
            sampleCount,
            sampler,
            samplerSteps);
      }
    }
  }

  /** The noise schedule. */
  public NoiseSchedule noiseSchedule() {
    return schedule.build();
  }

  /** What the network outputs (the same as {@link #prediction()}). */
  public Prediction predictionType() {
    return prediction;
  }

  /** The sampler of the grids. */
  public Sampler gridSampler() {
    return training.sampler().create(training.samplerSteps(), 0.0);
  }
}
