package org.tfdiffusion.cli.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.tfdiffusion.data.DataSources;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ExportedModel;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.run.TrainedModel;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.TrainPreset;
import picocli.CommandLine.Model.OptionSpec;

/**
 * What {@code train --resume} takes from the command line, and what from the run's config.json.
 *
 * <ul>
 *   <li>How this process runs ({@link #PROCESS}: {@code --progress}, {@code --xla}, {@code --conv},
 *       {@code --bf16}, the cluster options): from the command line, never recorded.
 *   <li>The run's length and bookkeeping ({@link #SCHEDULE}: {@code --steps}, {@code --log-every},
 *       {@code --checkpoint-every}, {@code --keep-checkpoints}, {@code --sample-every}, {@code
 *       --sample-count}, {@code --sampler}, {@code --sampler-steps}): from the command line when
 *       given, recorded in config.json; the weights' path does not depend on them (except through
 *       the learning rate's cosine decay, which is planned over {@code --steps}: the trainer
 *       warns).
 *   <li>Everything else (data, model, optimizer, batch, seed, schedule, conditioning): from
 *       config.json. Giving one of them with a different value is an error, since the resumed run
 *       would silently not be what the command line says; the same value is accepted, so the
 *       command that started a run resumes it with {@code --resume} added.
 * </ul>
 */
final class ResumeSettings {
  /** Options about this process, not the run. */
  static final Set<String> PROCESS =
      Set.of(
          "--resume",
          "--run-dir",
          "--restart",
          "--progress",
          "--quiet",
          "--xla",
          "--conv",
          "--bf16",
          "--cluster",
          "--task",
          "--connect-timeout",
          "--step-timeout",
          "--help",
          "--version");

  /** Run settings that a resume takes from the command line (recorded in config.json). */
  static final Set<String> SCHEDULE =
      Set.of(
          "--steps",
          "--log-every",
          "--checkpoint-every",
          "--keep-checkpoints",
          "--sample-every",
          "--sample-count",
          "--sampler",
          "--sampler-steps");

  /**
   * A run setting: its value in a config, and the value an option's text or number stands for
   * (normalised the same way: enums, absolute paths).
   */
  private record Setting(Function<TrainConfig, Object> ofRun, Function<Object, Object> ofOption) {
    static Setting plain(Function<TrainConfig, Object> ofRun) {
      return new Setting(ofRun, v -> v);
    }
  }

  private static final Map<String, Setting> SETTINGS =
      Map.ofEntries(
          Map.entry(
              "--preset", new Setting(TrainConfig::preset, v -> ((TrainPreset) v).configName())),
          Map.entry(
              "--data", new Setting(c -> dataKey(c.data().source()), v -> dataKey((String) v))),
          Map.entry("--split", Setting.plain(c -> c.data().split())),
          Map.entry("--fit", Setting.plain(c -> c.data().fit())),
          Map.entry("--flip", Setting.plain(c -> c.data().flip())),
          Map.entry("--steps", Setting.plain(c -> c.training().steps())),
          Map.entry("--batch-size", Setting.plain(c -> c.training().batchSize())),
          Map.entry("--accumulation", Setting.plain(c -> c.training().accumulation())),
          Map.entry("--seed", Setting.plain(c -> c.training().seed())),
          Map.entry("--lr", Setting.plain(c -> c.optimizer().learningRate())),
          Map.entry("--weight-decay", Setting.plain(c -> c.optimizer().weightDecay())),
          Map.entry("--clip-norm", Setting.plain(c -> c.optimizer().clipNorm())),
          Map.entry("--warmup", Setting.plain(c -> c.optimizer().warmupSteps())),
          Map.entry("--cosine", Setting.plain(c -> c.optimizer().cosineDecay())),
          Map.entry("--min-lr", Setting.plain(c -> c.optimizer().minLearningRate())),
          Map.entry("--ema-decay", Setting.plain(c -> c.ema().decay())),
          Map.entry("--ema-warmup", Setting.plain(c -> c.ema().warmup())),
          Map.entry("--ema-power", Setting.plain(c -> c.ema().power())),
          Map.entry("--prediction", Setting.plain(TrainConfig::prediction)),
          Map.entry("--loss-weighting", Setting.plain(TrainConfig::loss)),
          Map.entry("--schedule", Setting.plain(c -> c.schedule().kind())),
          Map.entry("--log-every", Setting.plain(c -> c.training().logEvery())),
          Map.entry("--checkpoint-every", Setting.plain(c -> c.training().checkpointEvery())),
          Map.entry("--keep-checkpoints", Setting.plain(c -> c.training().keepCheckpoints())),
          Map.entry("--sample-every", Setting.plain(c -> c.training().sampleEvery())),
          Map.entry("--sample-count", Setting.plain(c -> c.training().sampleCount())),
          Map.entry("--sampler", Setting.plain(c -> c.training().sampler())),
          Map.entry("--sampler-steps", Setting.plain(c -> c.training().samplerSteps())),
          Map.entry("--conditional", Setting.plain(c -> c.conditioning().enabled())),
          Map.entry("--p-uncond", Setting.plain(c -> c.conditioning().pUncond())),
          Map.entry("--guidance", Setting.plain(c -> c.conditioning().guidance())),
          Map.entry("--image-size", Setting.plain(c -> c.model().imageSize())),
          Map.entry("--channels", Setting.plain(c -> c.model().channels())),
          Map.entry("--base-width", Setting.plain(c -> c.model().baseWidth())),
          Map.entry("--levels", Setting.plain(c -> c.model().levels())),
          Map.entry(
              "--channel-mult",
              new Setting(c -> c.model().channelMultipliers(), v -> List.copyOf((List<?>) v))),
          Map.entry("--blocks-per-level", Setting.plain(c -> c.model().blocksPerLevel())),
          Map.entry(
              "--attention",
              new Setting(
                  c -> Set.copyOf(c.model().attentionResolutions()),
                  v -> Set.copyOf((Collection<?>) v))),
          Map.entry("--attention-heads", Setting.plain(c -> c.model().attentionHeads())),
          Map.entry("--dropout", Setting.plain(c -> c.model().dropout())),
          Map.entry("--classes", Setting.plain(c -> c.model().numClasses())),
          Map.entry(
              "--from",
              new Setting(
                  c -> Path.of(c.fineTune().parentRun()).toAbsolutePath().normalize(),
                  v -> parentRun((Path) v))),
          Map.entry(
              "--from-weights",
              new Setting(
                  c -> c.fineTune().weights().configName(),
                  v -> ((TrainedModel.Weights) v).configName())),
          Map.entry(
              "--freeze",
              new Setting(
                  c -> Set.copyOf(c.fineTune().frozen()),
                  v -> Set.copyOf(FineTuneCommand.frozenPrefixes(castList(v))))));

  /**
   * The resumed run's config and what the command line changed in it.
   *
   * @param config the run's config.json with the command line's {@link #SCHEDULE} settings
   * @param changes one {@code --option value (the run's: old)} per changed setting
   */
  record Resumed(TrainConfig config, List<String> changes) {}

  private ResumeSettings() {}

  /** Every option name that a resume knows (tests check that each option of train has a place). */
  static Set<String> known() {
    Set<String> all = new HashSet<>(PROCESS);
    all.addAll(SETTINGS.keySet());
    return all;
  }

  /**
   * The config a resume of {@code recorded} runs with, given the command line's options.
   *
   * @param given the options given on the command line
   * @param runDir the run folder, for messages
   * @throws IllegalArgumentException naming every run setting given with another value than the
   *     run's, and the way out
   */
  static Resumed apply(TrainConfig recorded, List<OptionSpec> given, Path runDir) {
    List<String> conflicts = new ArrayList<>();
    List<String> changes = new ArrayList<>();
    TrainConfig.Training t = recorded.training();
    TrainConfig.Training.Builder training = t.toBuilder();
    for (OptionSpec option : given) {
      Optional<String> name =
          Arrays.stream(option.names()).filter(n -> known().contains(n)).findFirst();
      if (name.isPresent() && PROCESS.contains(name.get())) {
        continue;
      }
      if (name.isEmpty()) {
        conflicts.add(option.longestName() + " (not a setting a resume can take)");
        continue;
      }
      Setting setting = SETTINGS.get(name.get());
      Object ofRun = setting.ofRun().apply(recorded);
      Object asked = setting.ofOption().apply(option.getValue());
      if (Objects.equals(ofRun, asked)) {
        continue;
      }
      String described = name.get() + " " + text(option) + " (the run's: " + ofRun + ")";
      if (!SCHEDULE.contains(name.get())) {
        conflicts.add(described);
        continue;
      }
      changes.add(described);
      int value = option.getValue() instanceof Integer i ? i : 0;
      switch (name.get()) {
        case "--steps" -> training.steps(value);
        case "--log-every" -> training.logEvery(value);
        case "--checkpoint-every" -> training.checkpointEvery(value);
        case "--keep-checkpoints" -> training.keepCheckpoints(value);
        case "--sample-every" -> training.sampleEvery(value);
        case "--sample-count" -> training.sampleCount(value);
        case "--sampler" -> training.sampler((SamplerKind) asked);
        case "--sampler-steps" -> training.samplerSteps(value);
        default -> throw new IllegalStateException("no schedule setting " + name.get());
      }
    }
    if (!conflicts.isEmpty()) {
      throw new IllegalArgumentException(
          String.format(
              "--resume continues %s with the settings of its %s, and %s %s: leave %s out, or"
                  + " start a new run with another --run-dir (finetune --from %s starts one from"
                  + " its weights)",
              runDir,
              RunDirectory.CONFIG,
              conflicts.size() == 1 ? "this option differs from them:" : "these options differ:",
              String.join(", ", conflicts),
              conflicts.size() == 1 ? "it" : "them",
              runDir));
    }
    return new Resumed(recorded.withTraining(training.build()), List.copyOf(changes));
  }

  /** The option's value as given on the command line. */
  private static String text(OptionSpec option) {
    List<String> typed = option.originalStringValues();
    return typed.isEmpty() ? String.valueOf(option.getValue()) : String.join(",", typed);
  }

  /** A data source as compared: "embedded", or the absolute normalised path. */
  private static String dataKey(String source) {
    if (source == null
        || source.isBlank()
        || source.trim().equalsIgnoreCase(DataSources.EMBEDDED)) {
      return DataSources.EMBEDDED;
    }
    return Path.of(source.trim()).toAbsolutePath().normalize().toString();
  }

  /**
   * The parent that {@code --from} names: the run folder itself, the run of a checkpoint folder, or
   * the version folder of an export.
   */
  private static Path parentRun(Path from) {
    Path absolute = from.toAbsolutePath().normalize();
    if (Files.isRegularFile(absolute.resolve(Checkpoints.STATE))) {
      return RunDirectory.holdingCheckpoint(absolute);
    }
    return ExportedModel.isExport(absolute)
        ? ExportedModel.open(absolute).versionDir().toAbsolutePath().normalize()
        : absolute;
  }

  @SuppressWarnings("unchecked")
  private static List<String> castList(Object value) {
    return (List<String>) value;
  }
}
