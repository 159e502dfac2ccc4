package org.tfdiffusion.train.cluster;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.tensorflow.proto.ServerDef;

class ClusterSpecTest {
  @Test
  void workerListMakesWorkerZeroTheChief() {
    ClusterSpec c = ClusterSpec.parse("worker=host1:2222, host2:2223", 1);
    assertThat(c.size()).isEqualTo(2);
    assertThat(c.isChief()).isFalse();
    assertThat(c.chief().address()).isEqualTo("host1:2222");
    assertThat(c.task().host()).isEqualTo("host2");
    assertThat(c.task().port()).isEqualTo(2223);
    assertThat(c.devices().get(1).toString())
        .isEqualTo("/job:worker/replica:0/task:1/device:CPU:0");
    ServerDef def = c.serverDef();
    assertThat(def.getJobName()).isEqualTo("worker");
    assertThat(def.getTaskIndex()).isEqualTo(1);
    assertThat(def.getProtocol()).isEqualTo("grpc");
    assertThat(def.getCluster().getJob(0).getTasksMap())
        .containsEntry(0, "host1:2222")
        .containsEntry(1, "host2:2223");
    assertThat(c.toFlag()).isEqualTo("worker=host1:2222,host2:2223");
  }

  @Test
  void aChiefJobComesFirst() {
    ClusterSpec c = ClusterSpec.parse("worker=w0:1,w1:2;chief=c:3", 0);
    assertThat(c.chief().job()).isEqualTo("chief");
    assertThat(c.chief().address()).isEqualTo("c:3");
    assertThat(c.tasks().get(2).describe()).isEqualTo("/job:worker/task:1 (w1:2)");
    assertThat(c.serverDef().getJobName()).isEqualTo("chief");
  }

  @Test
  void tfConfigAsTensorFlowWritesIt() {
    ClusterSpec c =
        ClusterSpec.fromTfConfig(
            "{\"cluster\": {\"chief\": [\"c:2222\"], \"worker\": [\"w0:2222\", \"w1:2222\"]},"
                + " \"task\": {\"type\": \"worker\", \"index\": 1}}");
    assertThat(c.self()).isEqualTo(2);
    assertThat(c.task().describe()).isEqualTo("/job:worker/task:1 (w1:2222)");
    ClusterSpec plain =
        ClusterSpec.fromTfConfig(
            "{\"cluster\": {\"worker\": [\"[::1]:5000\", \"b:5001\"]}, \"task\": {\"type\":"
                + " \"worker\", \"index\": 0}}");
    assertThat(plain.isChief()).isTrue();
    assertThat(plain.chief().host()).isEqualTo("::1");
  }

  @Test
  void badSpecsNameTheProblem() {
    assertThatThrownBy(() -> ClusterSpec.parse("host1:2222,host2:2222", 0))
        .hasMessageContaining("no job name")
        .hasMessageContaining("worker=host1:port");
    assertThatThrownBy(() -> ClusterSpec.parse("worker=host1", 0))
        .hasMessageContaining("is not host:port");
    assertThatThrownBy(() -> ClusterSpec.parse("worker=a:99999", 0))
        .hasMessageContaining("out of range 1..65535");
    assertThatThrownBy(() -> ClusterSpec.parse("worker=a:1,b:2", 2))
        .hasMessageContaining("--task 2 is out of range")
        .hasMessageContaining("0..1");
    assertThatThrownBy(() -> ClusterSpec.parse("worker=a:1;ps=b:2", 0))
        .hasMessageContaining("job 'ps'")
        .hasMessageContaining("no ps tasks");
    assertThatThrownBy(() -> ClusterSpec.parse("worker=a:1,a:1", 0))
        .hasMessageContaining("share the address a:1");
    assertThatThrownBy(() -> ClusterSpec.parse("chief=a:1,b:2;worker=c:3", 0))
        .hasMessageContaining("at most one chief");
    assertThatThrownBy(() -> ClusterSpec.fromTfConfig("{\"cluster\": "))
        .hasMessageContaining("TF_CONFIG is not valid JSON");
    assertThatThrownBy(
            () ->
                ClusterSpec.fromTfConfig(
                    "{\"cluster\": {\"worker\": [\"a:1\"]}, \"task\": {\"type\": \"evaluator\","
                        + " \"index\": 0}}"))
        .hasMessageContaining("task type \"evaluator\" is not a job");
    assertThatThrownBy(
            () ->
                ClusterSpec.fromTfConfig(
                    "{\"cluster\": {\"worker\": [\"a:1\"]}, \"task\": {\"type\": \"worker\","
                        + " \"index\": 3}}"))
        .hasMessageContaining("index 3 is out of range");
  }

  @Test
  void theProbeWaitsForListenersAndNamesTheMissingOnes() throws Exception {
    try (ServerSocket up = new ServerSocket(0);
        ServerSocket reserved = new ServerSocket(0)) {
      int downPort = reserved.getLocalPort();
      reserved.close(); // nothing listens there any more
      ClusterSpec c =
          ClusterSpec.parse("worker=127.0.0.1:" + up.getLocalPort() + ",127.0.0.1:" + downPort, 0);
      ClusterProbe.awaitAll(List.of(c.tasks().get(0)), Duration.ofSeconds(2));
      long start = System.nanoTime();
      assertThatThrownBy(() -> ClusterProbe.awaitAll(c.tasks(), Duration.ofMillis(1500)))
          .hasMessageContaining("/job:worker/task:1 (127.0.0.1:" + downPort + ")")
          .hasMessageContaining("did not start within 1 s")
          .hasMessageNotContaining("task:0");
      assertThat((System.nanoTime() - start) / 1e9).isBetween(1.4, 6.0);
    }
  }
}
