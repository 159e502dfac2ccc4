package org.tfdiffusion.cli.train;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt64;
import org.tfdiffusion.cli.CommandLineErrors;
import org.tfdiffusion.cli.SamplerOptions;
import org.tfdiffusion.data.Batch;
import org.tfdiffusion.data.BatchIterator;
import org.tfdiffusion.data.ImageDataset;
import org.tfdiffusion.export.serving.RestServer;
import org.tfdiffusion.export.serving.ServerLog;
import org.tfdiffusion.graph.SessionOptions;
import org.tfdiffusion.graph.TensorIO;
import org.tfdiffusion.run.Checkpoints;
import org.tfdiffusion.run.ExportMetadata;
import org.tfdiffusion.run.RunDirectory;
import org.tfdiffusion.run.TrainConfig;
import org.tfdiffusion.sampling.SamplerKind;
import org.tfdiffusion.train.Distiller;
import org.tfdiffusion.train.FineTuning;
import org.tfdiffusion.train.Trainer;
import org.tfdiffusion.train.TrainerTest;
import org.tfdiffusion.train.TrainingGraph;
import org.tfdiffusion.train.TrainingMetrics;
import picocli.CommandLine;

/**
 * Rounds of progressive distillation on a tiny model: a round moves the student towards the
 * teacher's two-step target, a round resumes bit for bit, the command chains the rounds and records
 * what sampling needs, and bad input gets one line. (The target itself is checked against Algorithm
 * 2 in plain Java double by ProgressiveDistillationTest in diffusion-core.)
 */
class DistillTest {
  @TempDir static Path shared;
  @TempDir Path temp;

  private final StringWriter log = new StringWriter();

  /** A tiny unconditional teacher trained for 3 steps, shared by the tests. */
  private static Path teacher;

  @BeforeAll
  static void trainTeacher() {
    teacher = shared.resolve("teacher");
    new Trainer(
            new PrintWriter(new StringWriter(), true),
            Trainer.Progress.QUIET,
            SessionOptions.defaults())
        .train(teacher, TrainerTest.tiny(3, 0, 1e-3));
  }

  private Trainer trainer() {
    return new Trainer(
        new PrintWriter(log, true), Trainer.Progress.QUIET, SessionOptions.defaults());
  }

  /** A 4-step round of {@code iterations} steps at lr {@code lr}, batch 8. */
  private static TrainConfig round(int iterations, double lr) {
    Distiller.Settings settings =
        new Distiller.Settings(
            4,
            2,
            iterations,
            Optional.of(8),
            Optional.of(lr),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            false,
            Optional.empty());
    return Distiller.roundConfig(Distiller.Teacher.open(teacher), 4, settings);
  }

  /**
   * The distillation loss of the student's raw weights (the teacher's before any step, else the
   * checkpoint's) on fixed batches and draws: seeds 100..103, each on its own batch of 16.
   */
  private static double fixedLoss(TrainConfig config, Optional<Checkpoints.Checkpoint> student) {
    ImageDataset data = Trainer.loadData(config);
    BatchIterator batches = BatchIterator.builder(data).batchSize(16).seed(42).build();
    double sum = 0;
    int count = 4;
    try (TrainingGraph graph = new TrainingGraph(config, TrainingGraph.Options.stepOnly());
        Session session = new Session(graph.graph)) {
      if (student.isPresent()) {
        graph.restore(session, student.get().prefix());
      } else {
        graph.initialize(session);
        FineTuning.load(graph, session, config.fineTune());
      }
      for (int k = 0; k < count; k++) {
        Batch batch = batches.next();
        try (TFloat32 x = TensorIO.floats(Shape.of(batch.shape()), batch.images());
            TInt64 seed = TInt64.vectorOf(100 + k, 7);
            Result r =
                session
                    .runner()
                    .feed(graph.images, x)
                    .feed(graph.seed, seed)
                    .fetch(graph.loss)
                    .run()) {
          sum += TensorIO.toFloats(r.get(0))[0];
        }
      }
    }
    return sum / count;
  }

  /**
   * One round of 30 steps lowers the loss against the two-step teacher's target on fixed batches
   * and draws; the same round stopped at its checkpoint of step 15 and resumed ends with the same
   * checkpoint, bit for bit, and the same losses.
   */
  @Test
  void aRoundMovesTheStudentTowardsTheTwoStepTargetAndResumesBitForBit() throws Exception {
    TrainConfig config =
        round(30, 5e-4)
            .withTraining(round(30, 5e-4).training().toBuilder().checkpointEvery(15).build());
    double before = fixedLoss(config, Optional.empty());
    Trainer.Outcome straight = trainer().train(temp.resolve("straight"), config);
    assertThat(straight.step()).isEqualTo(30);
    double after = fixedLoss(config, Checkpoints.of(straight.runDir()).latest());
    assertThat(before).as("the one-step student starts off the two-step target").isGreaterThan(0);
    assertThat(after).as("loss before %s, after %s", before, after).isLessThan(0.5 * before);
    assertThat(log.toString()).contains("fine-tuning from " + teacher);

    Path split = temp.resolve("split");
    Trainer first = trainer();
    first.beforeCheckpointRename(first::requestStop);
    Trainer.Outcome stopped = first.train(split, config);
    assertThat(stopped.step()).isEqualTo(15);
    Trainer.Outcome resumed = trainer().resume(split, Optional.empty());
    assertThat(resumed.step()).isEqualTo(30);

    // every variable (weights, EMA, AdamW's slots, the step) bit for bit: the same checkpoint files
    Path x = Checkpoints.resolve(straight.runDir()).dir();
    Path y = Checkpoints.resolve(split).dir();
    List<Path> files;
    try (java.util.stream.Stream<Path> list = Files.walk(x)) {
      files =
          list.filter(Files::isRegularFile).filter(f -> !f.endsWith(Checkpoints.STATE)).toList();
    }
    assertThat(files).hasSizeGreaterThanOrEqualTo(2);
    for (Path f : files) {
      assertThat(Files.readAllBytes(y.resolve(x.relativize(f))))
          .as("%s", x.relativize(f))
          .isEqualTo(Files.readAllBytes(f));
    }
    List<TrainingMetrics.Row> one = TrainingMetrics.read(straight.runDir().resolve("metrics.csv"));
    List<TrainingMetrics.Row> two = TrainingMetrics.read(split.resolve("metrics.csv"));
    assertThat(two)
        .extracting(TrainingMetrics.Row::loss)
        .containsExactlyElementsOf(one.stream().map(TrainingMetrics.Row::loss).toList());
  }

  /**
   * A guided teacher's target against Algorithm 2 computed in plain Java double around the
   * teacher's network alone (a separate graph of its U-Net on its weights): each DDIM half-step's
   * output is ε(∅) + w (ε(y) - ε(∅)) with the round's w, rows whose label was dropped use ε(∅).
   */
  @Test
  void aGuidedTeachersTargetIsTheGuidedTwoStepDdimOfItsNetwork() {
    Path guided = temp.resolve("guided-teacher");
    TrainConfig teacherConfig =
        TrainerTest.tiny(2, 0, 1e-3)
            .withConditioning(new TrainConfig.Conditioning(true, 0.5, 3.0, List.of()));
    trainer().train(guided, teacherConfig);
    Distiller.Settings settings =
        new Distiller.Settings(
            4,
            4,
            1,
            Optional.of(8),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            Optional.empty(),
            false,
            Optional.empty());
    TrainConfig config = Distiller.roundConfig(Distiller.Teacher.open(guided), 4, settings);
    assertThat(config.distillation().teacherGuidance()).isEqualTo(3.0);
    assertThat(config.conditioning().guidance()).isEqualTo(1.0);
    double w = 3.0;
    int nullLabel = config.model().numClasses();

    ImageDataset data = Trainer.loadData(config);
    Batch batch = BatchIterator.builder(data).batchSize(16).seed(3).build().next();
    long[] shape = batch.shape();
    float[] zt;
    int[] t;
    int[] labels;
    float[] target;
    try (TrainingGraph graph = new TrainingGraph(config, TrainingGraph.Options.stepOnly());
        Session session = new Session(graph.graph)) {
      graph.initialize(session);
      try (TFloat32 x = TensorIO.floats(Shape.of(shape), batch.images());
          org.tensorflow.types.TInt32 y = org.tensorflow.types.TInt32.vectorOf(batch.labels());
          TInt64 seed = TInt64.vectorOf(5, 9);
          Result r =
              session
                  .runner()
                  .feed(graph.images, x)
                  .feed(graph.labels.get(), y)
                  .feed(graph.seed, seed)
                  .fetch(graph.distillationLoss.zt())
                  .fetch(graph.distillationLoss.t())
                  .fetch(graph.droppedLabels)
                  .fetch(graph.distillationLoss.target())
                  .run()) {
        zt = TensorIO.toFloats(r.get(0));
        t = TensorIO.toInts(r.get(1));
        labels = TensorIO.toInts(r.get(2));
        target = TensorIO.toFloats(r.get(3));
      }
    }
    int rows = (int) shape[0];
    int perRow = zt.length / rows;
    assertThat(labels).contains(nullLabel);
    assertThat(Arrays.stream(labels).filter(l -> l != nullLabel).count()).isPositive();

    org.tfdiffusion.schedule.NoiseSchedule schedule = config.noiseSchedule();
    int[] nulls = new int[rows];
    Arrays.fill(nulls, nullLabel);
    try (TeacherNet net = new TeacherNet(config, shape)) {
      // first half-step: t -> t - 125 (T / 2N), guided
      double[] z = new double[zt.length];
      for (int k = 0; k < z.length; k++) {
        z[k] = zt[k];
      }
      double[] m1 = guidedOutput(net, z, t, labels, nulls, w);
      int[] tMid = new int[rows];
      double[] zMid = new double[z.length];
      for (int b = 0; b < rows; b++) {
        tMid[b] = t[b] - 125;
        double ab = schedule.alphasCumprod().get(t[b]);
        double abMid = tMid[b] >= 0 ? schedule.alphasCumprod().get(tMid[b]) : 1;
        for (int p = 0; p < perRow; p++) {
          int k = b * perRow + p;
          double x0 = (z[k] - Math.sqrt(1 - ab) * m1[k]) / Math.sqrt(ab);
          zMid[k] = Math.sqrt(abMid) * x0 + Math.sqrt(1 - abMid) * m1[k];
        }
      }
      // second half-step: t - 125 -> t - 250 (at t = 0 the first one ended at alpha_bar 1)
      int[] tMidValid = Arrays.stream(tMid).map(v -> Math.max(v, 0)).toArray();
      double[] m2 = guidedOutput(net, zMid, tMidValid, labels, nulls, w);
      for (int b = 0; b < rows; b++) {
        double ab = schedule.alphasCumprod().get(t[b]);
        double abMid = tMid[b] >= 0 ? schedule.alphasCumprod().get(tMid[b]) : 1;
        double abEnd = t[b] - 250 >= 0 ? schedule.alphasCumprod().get(t[b] - 250) : 1;
        double a = Math.sqrt(ab);
        double s = Math.sqrt(1 - ab);
        double aEnd = Math.sqrt(abEnd);
        double sEnd = Math.sqrt(1 - abEnd);
        for (int p = 0; p < perRow; p++) {
          int k = b * perRow + p;
          double zEnd = zMid[k];
          if (tMid[b] >= 0) {
            double x0 = (zMid[k] - Math.sqrt(1 - abMid) * m2[k]) / Math.sqrt(abMid);
            zEnd = aEnd * x0 + sEnd * m2[k];
          }
          double expected = (zEnd - sEnd / s * z[k]) / (aEnd - sEnd / s * a);
          assertThat((double) target[k])
              .as("row %s (t = %s, label %s), element %s", b, t[b], labels[b], p)
              .isCloseTo(
                  expected,
                  org.assertj.core.api.Assertions.within(2e-3 * Math.max(Math.abs(expected), 1)));
        }
      }
    }
  }

  /** ε(∅) + w (ε(y) - ε(∅)) of the teacher's network, in double. */
  private static double[] guidedOutput(
      TeacherNet net, double[] z, int[] t, int[] labels, int[] nulls, double w) {
    float[] cond = net.apply(z, t, labels);
    float[] uncond = net.apply(z, t, nulls);
    double[] out = new double[cond.length];
    for (int k = 0; k < out.length; k++) {
      out[k] = uncond[k] + w * ((double) cond[k] - uncond[k]);
    }
    return out;
  }

  /** The teacher's U-Net on its weights, alone in a graph: output(z, t, labels). */
  private static final class TeacherNet implements AutoCloseable {
    private final org.tensorflow.Graph graph = new org.tensorflow.Graph();
    private final Session session;
    private final org.tensorflow.op.core.Placeholder<TFloat32> z;
    private final org.tensorflow.op.core.Placeholder<org.tensorflow.types.TInt32> t;
    private final org.tensorflow.op.core.Placeholder<org.tensorflow.types.TInt32> labels;
    private final org.tensorflow.Operand<TFloat32> out;
    private final long[] shape;

    TeacherNet(TrainConfig config, long[] shape) {
      this.shape = shape;
      org.tensorflow.op.Ops tf = org.tensorflow.op.Ops.create(graph);
      FineTuning.ParentWeights parent = FineTuning.read(config.fineTune());
      java.util.Map<String, org.tensorflow.Operand<TFloat32>> bound =
          new java.util.LinkedHashMap<>();
      parent
          .values()
          .forEach(
              (name, v) ->
                  bound.put(
                      name,
                      tf.constant(
                          parent.shapes().get(name),
                          org.tensorflow.ndarray.buffer.DataBuffers.of(v, true, false))));
      z = tf.placeholder(TFloat32.class);
      t = tf.placeholder(org.tensorflow.types.TInt32.class);
      labels = tf.placeholder(org.tensorflow.types.TInt32.class);
      out =
          new org.tfdiffusion.model.UNet(config.model())
              .apply(
                  org.tfdiffusion.nn.NetScope.inference(
                      tf, new org.tfdiffusion.nn.BoundParameters(bound)),
                  tf.ensureShape(z, Shape.of(shape)),
                  t,
                  Optional.of(labels));
      session = new Session(graph);
    }

    float[] apply(double[] zs, int[] ts, int[] ls) {
      float[] f = new float[zs.length];
      for (int k = 0; k < f.length; k++) {
        f[k] = (float) zs[k];
      }
      try (TFloat32 zt = TensorIO.floats(Shape.of(shape), f);
          org.tensorflow.types.TInt32 tt = org.tensorflow.types.TInt32.vectorOf(ts);
          org.tensorflow.types.TInt32 lt = org.tensorflow.types.TInt32.vectorOf(ls);
          Result r = session.runner().feed(z, zt).feed(t, tt).feed(labels, lt).fetch(out).run()) {
        return TensorIO.toFloats(r.get(0));
      }
    }

    @Override
    public void close() {
      session.close();
      graph.close();
    }
  }

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int distill(String... args) {
    out.getBuffer().setLength(0);
    err.getBuffer().setLength(0);
    CommandLine cli = TrainCommand.commandLine(new DistillCommand());
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    List<String> all = new ArrayList<>(Arrays.asList(args));
    all.addAll(List.of("--no-xla", "--progress", "quiet"));
    return cli.execute(all.toArray(String[]::new));
  }

  @Test
  void theCommandChainsRoundsAndTheStudentSamplesWithDdimAtItsSteps() throws Exception {
    Path outDir = temp.resolve("distilled");
    int status =
        distill(
            "--from",
            teacher.toString(),
            "--out",
            outDir.toString(),
            "--steps-start",
            "4",
            "--steps-end",
            "2",
            "--steps-per-round",
            "2",
            "--batch-size",
            "4");
    assertThat(status).as(out + "\n" + err).isZero();
    TrainConfig four = RunDirectory.open(outDir.resolve("round-4")).config();
    TrainConfig two = RunDirectory.open(outDir.resolve("round-2")).config();
    assertThat(four.fineTune().parentRun()).isEqualTo(teacher.toString());
    assertThat(four.fineTune().parentStep()).isEqualTo(3);
    assertThat(two.fineTune().parentRun()).isEqualTo(outDir.resolve("round-4").toString());
    assertThat(two.fineTune().parentStep()).isEqualTo(2);
    assertThat(two.distillation()).isEqualTo(new TrainConfig.Distillation(2, 2, 1, false));
    assertThat(two.training().sampler()).isEqualTo(SamplerKind.DDIM);
    assertThat(two.training().samplerSteps()).isEqualTo(2);
    assertThat(Files.list(outDir.resolve("round-2").resolve("samples")).count()).isEqualTo(1);

    // sample, export and eval draw it with ddim at 2 steps unless told otherwise
    SamplerOptions none = parse();
    assertThat(none.forModel(two).kind()).isEqualTo(SamplerKind.DDIM);
    assertThat(none.forModel(two).steps(1000)).isEqualTo(2);
    assertThat(parse("--steps", "8").forModel(two).steps(1000)).isEqualTo(8);
    assertThat(parse("--sampler", "dpmpp").forModel(two).kind()).isEqualTo(SamplerKind.DPMPP);
    assertThat(none.forModel(RunDirectory.open(teacher).config()).kind())
        .isEqualTo(SamplerKind.DPMPP);

    // the export records the student's plan, and the server draws with it
    Path base = temp.resolve("models");
    CommandLine export = org.tfdiffusion.cli.Main.commandLine();
    export.setOut(new PrintWriter(out, true));
    export.setErr(new PrintWriter(err, true));
    assertThat(
            export.execute(
                "export",
                "--run",
                outDir.resolve("round-2").toString(),
                "--base",
                base.toString(),
                "--name",
                "student"))
        .as(out + "\n" + err)
        .isZero();
    ExportMetadata meta = ExportMetadata.read(base.resolve("student").resolve("1"));
    assertThat(meta.samplerKind()).contains(SamplerKind.DDIM);
    assertThat(meta.steps()).isEqualTo(2);
    assertThat(meta.config().distillation().steps()).isEqualTo(2);
    try (RestServer server =
        RestServer.start(
            base,
            RestServer.Options.defaults().withPort(0).withPoll(Duration.ZERO),
            ServerLog.quiet())) {
      HttpResponse<String> r =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(server.url().resolve("/v1/models/student:predict"))
                      .POST(
                          HttpRequest.BodyPublishers.ofString(
                              "{\"instances\": [{\"seed\": 1}, {\"seed\": 2}]}"))
                      .build(),
                  HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      JsonNode predictions = new ObjectMapper().readTree(r.body()).path("predictions");
      assertThat(predictions).hasSize(2);
      assertThat(predictions.get(0).path("images_png_bytes").path("b64").asText()).isNotEmpty();
      assertThat(predictions.get(0).path("images").toString())
          .isNotEqualTo(predictions.get(1).path("images").toString());
    }

    // a finished distillation resumes to nothing new
    assertThat(distill("--resume", "--out", outDir.toString())).as(out + "\n" + err).isZero();
    assertThat(out.toString()).contains("round 4: done").contains("round 2: done");
  }

  private static SamplerOptions parse(String... args) {
    SamplerOptions options = new SamplerOptions();
    new CommandLine(options).parseArgs(args);
    return options;
  }

  @Test
  void badInputGetsOneLine() {
    String from = teacher.toString();
    String outDir = temp.resolve("o").toString();
    assertOneLineError(
        distill("--from", from, "--out", outDir, "--steps-start", "48", "--steps-end", "5"),
        "--steps-start 48 is not a power-of-two multiple of --steps-end 5");
    assertOneLineError(
        distill("--from", from, "--out", outDir, "--steps-start", "12", "--steps-end", "4"),
        "--steps-start 12 is not a power-of-two multiple of --steps-end 4");
    assertOneLineError(
        distill("--from", from, "--out", outDir, "--steps-start", "512", "--steps-end", "4"),
        "a student of 512 steps needs a teacher of 1024 DDIM steps, more than the model's 1000"
            + " timesteps");
    assertOneLineError(distill("--out", outDir), "distill needs --from TEACHER");
    assertOneLineError(
        distill("--from", from, "--out", outDir, "--guidance", "3"),
        "the teacher is unconditional");
    assertOneLineError(
        distill("--from", from, "--out", outDir, "--steps-per-round", "0"),
        "--steps-per-round must be >= 1, got 0");
    assertOneLineError(distill("--resume", "--out", outDir), "holds no distillation round");
    assertOneLineError(
        distill("--from", from, "--out", teacher.toString()),
        "is not empty: continue its distillation with --resume");
    assertThat(Files.exists(Path.of(outDir))).isFalse();
  }

  private void assertOneLineError(int status, String expected) {
    String text = err.toString();
    assertThat(status).as(out + "\n" + text).isEqualTo(CommandLineErrors.USER_ERROR);
    List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
    assertThat(lines).as(text).hasSize(1);
    assertThat(lines.get(0)).startsWith("error: ").contains(expected);
    assertThat(text).doesNotContain("\tat ", "Exception");
  }
}
