package org.tfdiffusion.train.cluster;

import static com.google.common.base.Preconditions.checkArgument;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.tensorflow.DeviceSpec;
import org.tensorflow.proto.ClusterDef;
import org.tensorflow.proto.JobDef;
import org.tensorflow.proto.ServerDef;

/**
 * A TensorFlow cluster and this process's task in it: one task per process, the chief first.
 *
 * <p>Two ways to write it, as TensorFlow does:
 *
 * <pre>
 *   --cluster worker=host1:2222,host2:2222 --task 0          task i is worker i; worker 0 is the chief
 *   --cluster chief=host0:2222;worker=host1:2222 --task 1    a separate chief job; tasks count chief first
 *   TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
 *               "task": {"type": "worker", "index": 1}}'
 * </pre>
 *
 * Only the jobs {@code chief} (at most one task) and {@code worker} are used: synchronous
 * data-parallel training keeps the variables with the chief, so there are no parameter servers.
 *
 * @param tasks every task of the cluster in replica order: the chief first, then the workers by
 *     index
 * @param self the position of this process's task in {@code tasks}
 */
public record ClusterSpec(List<Task> tasks, int self) {
  /** The job of the chief when the cluster names one. */
  public static final String CHIEF = "chief";

  /** The job of the other tasks (and of the chief when there is no chief job). */
  public static final String WORKER = "worker";

  /** The environment variable TensorFlow reads the cluster from. */
  public static final String TF_CONFIG = "TF_CONFIG";

  private static final Pattern ADDRESS =
      Pattern.compile("(\\[[0-9A-Fa-f:.]+\\]|[^:\\s\\[\\]]+):(\\d+)");

  /**
   * One task: a TensorFlow server in its own process.
   *
   * @param job {@code chief} or {@code worker}
   * @param index the task's index in its job
   * @param address {@code host:port} where its server listens (on every interface)
   */
  public record Task(String job, int index, String address) {
    public Task {
      checkArgument(
          job.equals(CHIEF) || job.equals(WORKER),
          "unknown job '%s': this trainer uses only the jobs chief and worker",
          job);
      checkArgument(index >= 0, "task index must be >= 0, got %s", index);
      Matcher m = ADDRESS.matcher(address == null ? "" : address.trim());
      checkArgument(
          m.matches(),
          "task address '%s' of /job:%s/task:%s is not host:port (for example localhost:2222)",
          address,
          job,
          index);
      int port = Integer.parseInt(m.group(2));
      checkArgument(
          port >= 1 && port <= 65535,
          "port %s of %s is out of range 1..65535",
          m.group(2),
          address);
      address = address.trim();
    }

    /** The host part of the address. */
    public String host() {
      String h = address.substring(0, address.lastIndexOf(':'));
      return h.startsWith("[") ? h.substring(1, h.length() - 1) : h;
    }

    /** The port part of the address. */
    public int port() {
      return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
    }

    /** The task's CPU, where its replica of the training step runs. */
    public DeviceSpec device() {
      return DeviceSpec.newBuilder()
          .job(job)
          .replica(0)
          .task(index)
          .deviceType(DeviceSpec.DeviceType.CPU)
          .deviceIndex(0)
          .build();
    }

    /** {@code /job:worker/task:1 (host:port)}, for messages. */
    public String describe() {
      return "/job:" + job + "/task:" + index + " (" + address + ")";
    }
  }

  public ClusterSpec {
    checkArgument(tasks != null && !tasks.isEmpty(), "the cluster has no task");
    tasks = List.copyOf(tasks);
    checkArgument(
        self >= 0 && self < tasks.size(),
        "--task %s is out of range: the cluster has %s tasks (0..%s)",
        self,
        tasks.size(),
        tasks.size() - 1);
    long chiefs = tasks.stream().filter(t -> t.job().equals(CHIEF)).count();
    checkArgument(chiefs <= 1, "a cluster has at most one chief task, got %s", chiefs);
    checkArgument(
        chiefs == 0 || tasks.get(0).job().equals(CHIEF), "the chief must be the first task");
    Map<String, Task> byAddress = new LinkedHashMap<>();
    for (Task t : tasks) {
      Task other = byAddress.put(t.address().toLowerCase(Locale.ROOT), t);
      checkArgument(
          other == null,
          "two tasks share the address %s (%s and %s): each task needs its own port",
          t.address(),
          other == null ? "" : other.describe(),
          t.describe());
    }
  }

  /**
   * Parses {@code --cluster} and {@code --task}.
   *
   * @param cluster {@code worker=h:p,h:p} or {@code chief=h:p;worker=h:p,...}
   * @param task this process's task, counted over all tasks with the chief first
   * @throws IllegalArgumentException naming what is wrong and how it should look
   */
  public static ClusterSpec parse(String cluster, int task) {
    checkArgument(
        cluster != null && !cluster.isBlank(),
        "--cluster is empty; write it as worker=host1:port,host2:port");
    Map<String, List<String>> jobs = new LinkedHashMap<>();
    for (String part : cluster.split(";")) {
      if (part.isBlank()) {
        continue;
      }
      int eq = part.indexOf('=');
      checkArgument(
          eq > 0,
          "--cluster part '%s' has no job name; write it as worker=host1:port,host2:port"
              + " (optionally chief=host0:port;worker=...)",
          part.trim());
      String job = part.substring(0, eq).trim().toLowerCase(Locale.ROOT);
      checkArgument(!jobs.containsKey(job), "--cluster names the job %s twice", job);
      List<String> addresses = new ArrayList<>();
      for (String a : part.substring(eq + 1).split(",")) {
        checkArgument(!a.isBlank(), "--cluster job %s has an empty address", job);
        addresses.add(a.trim());
      }
      jobs.put(job, addresses);
    }
    return of(jobs, task);
  }

  /**
   * Parses TensorFlow's {@code TF_CONFIG} JSON: {@code {"cluster": {"worker": [...]}, "task":
   * {"type": "worker", "index": 0}}} (a {@code chief} job is allowed; other jobs are refused).
   */
  public static ClusterSpec fromTfConfig(String json) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(
          "TF_CONFIG is not valid JSON (" + e.getOriginalMessage() + ")", e);
    }
    checkArgument(
        root != null && root.path("cluster").isObject(),
        "TF_CONFIG has no \"cluster\" object; expected {\"cluster\": {\"worker\": [\"host:port\","
            + " ...]}, \"task\": {\"type\": \"worker\", \"index\": 0}}");
    Map<String, List<String>> jobs = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.get("cluster").fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> job = it.next();
      checkArgument(
          job.getValue().isArray(),
          "TF_CONFIG cluster job \"%s\" must be a list of \"host:port\"",
          job.getKey());
      List<String> addresses = new ArrayList<>();
      job.getValue().forEach(a -> addresses.add(a.asText()));
      jobs.put(job.getKey(), addresses);
    }
    JsonNode taskNode = root.path("task");
    checkArgument(
        taskNode.path("type").isTextual() && taskNode.path("index").canConvertToInt(),
        "TF_CONFIG has no \"task\": {\"type\": \"worker\", \"index\": N}");
    String type = taskNode.get("type").asText();
    int index = taskNode.get("index").asInt();
    checkArgument(
        jobs.containsKey(type),
        "TF_CONFIG's task type \"%s\" is not a job of its cluster %s",
        type,
        jobs.keySet());
    checkArgument(
        index >= 0 && index < jobs.get(type).size(),
        "TF_CONFIG's task index %s is out of range for job %s (%s tasks)",
        index,
        type,
        jobs.get(type).size());
    int position = type.equals(CHIEF) ? index : jobs.getOrDefault(CHIEF, List.of()).size() + index;
    return of(jobs, position);
  }

  /** The cluster of {@code TF_CONFIG} when the variable is set and not empty. */
  public static Optional<ClusterSpec> fromEnvironment() {
    String json = System.getenv(TF_CONFIG);
    return json == null || json.isBlank() ? Optional.empty() : Optional.of(fromTfConfig(json));
  }

  private static ClusterSpec of(Map<String, List<String>> jobs, int position) {
    for (String job : jobs.keySet()) {
      checkArgument(
          job.equals(CHIEF) || job.equals(WORKER),
          "the cluster has a job '%s'; this trainer uses only chief and worker (synchronous"
              + " data parallelism keeps the variables with the chief, so it needs no ps tasks)",
          job);
    }
    checkArgument(
        jobs.getOrDefault(CHIEF, List.of()).size() <= 1,
        "a cluster has at most one chief task, got %s",
        jobs.getOrDefault(CHIEF, List.of()).size());
    List<Task> tasks = new ArrayList<>();
    List<String> chief = jobs.getOrDefault(CHIEF, List.of());
    for (int i = 0; i < chief.size(); i++) {
      tasks.add(new Task(CHIEF, i, chief.get(i)));
    }
    List<String> workers = jobs.getOrDefault(WORKER, List.of());
    for (int i = 0; i < workers.size(); i++) {
      tasks.add(new Task(WORKER, i, workers.get(i)));
    }
    return new ClusterSpec(tasks, position);
  }

  /** This process's task. */
  public Task task() {
    return tasks.get(self);
  }

  /** The chief: the task that builds the graph, drives training and writes checkpoints. */
  public Task chief() {
    return tasks.get(0);
  }

  /** Whether this process is the chief. */
  public boolean isChief() {
    return self == 0;
  }

  /** The number of tasks, which is the number of replicas. */
  public int size() {
    return tasks.size();
  }

  /** The replicas' devices, the chief's first. */
  public List<DeviceSpec> devices() {
    return tasks.stream().map(Task::device).toList();
  }

  /** The server definition of this process's task. */
  public ServerDef serverDef() {
    Map<String, JobDef.Builder> jobs = new LinkedHashMap<>();
    for (Task t : tasks) {
      jobs.computeIfAbsent(t.job(), j -> JobDef.newBuilder().setName(j))
          .putTasks(t.index(), t.address());
    }
    ClusterDef.Builder cluster = ClusterDef.newBuilder();
    jobs.values().forEach(cluster::addJob);
    return ServerDef.newBuilder()
        .setCluster(cluster)
        .setJobName(task().job())
        .setTaskIndex(task().index())
        .setProtocol("grpc")
        .build();
  }

  /** {@code chief=...;worker=...} as {@code --cluster} takes it. */
  public String toFlag() {
    Map<String, List<String>> jobs = new LinkedHashMap<>();
    tasks.forEach(t -> jobs.computeIfAbsent(t.job(), j -> new ArrayList<>()).add(t.address()));
    List<String> parts = new ArrayList<>();
    jobs.forEach((job, addresses) -> parts.add(job + "=" + String.join(",", addresses)));
    return String.join(";", parts);
  }
}
