package org.tfdiffusion.train.cluster;

import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetConfig;
import static org.tensorflow.internal.c_api.global.tensorflow.TF_SetTarget;

import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerScope;
import org.tensorflow.Graph;
import org.tensorflow.Session;
import org.tensorflow.internal.c_api.TF_Graph;
import org.tensorflow.internal.c_api.TF_Session;
import org.tensorflow.internal.c_api.TF_SessionOptions;
import org.tensorflow.internal.c_api.TF_Status;
import org.tensorflow.proto.ConfigProto;

/**
 * Opens a {@link Session} on a TensorFlow server ({@code grpc://host:port}) instead of in this
 * process: the adapter that TensorFlow Java 1.1.0 lacks.
 *
 * <p>Why it is needed: every public constructor of {@code Session} in 1.1.0 creates its native
 * session with an empty target ({@code Session.allocate(graph, null, config)} never calls {@code
 * TF_SetTarget}), so a graph always runs in-process and device names such as {@code
 * /job:worker/task:1} cannot be satisfied. The C API can do it: {@code TF_SetTarget} on the session
 * options before {@code TF_NewSession} makes a gRPC session whose master runs on the target server
 * and places ops on every task of that server's cluster.
 *
 * <p>How: this class repeats what {@code Session.allocate} does with the C API through TensorFlow
 * Java's own JavaCPP bindings (the same {@code TF_SessionOptions}, {@code TF_SetConfig} and {@code
 * TF_Session.newSession}, plus {@code TF_SetTarget}), and wraps the native session in a {@code
 * Session} through its package-private constructor {@code Session(Graph, TF_Session)}. Two
 * package-private members are reached by reflection: {@code Graph.ref()} (to hold the graph while
 * its native handle is used, as {@code Session}'s constructor does) and that constructor. This
 * works when TensorFlow Java is on the class path (as in this project's launcher and tests); on the
 * module path it needs {@code --add-opens org.tensorflow/org.tensorflow=ALL-UNNAMED}.
 *
 * <p>The wrapped session does not initialise itself on first use (that constructor sets {@code
 * autoInit = false}): call {@link Session#initialize()} or restore before running anything else.
 * {@code Session.close()} releases the native session as for any other session.
 *
 * <p>Remote sessions are created lazily by TensorFlow: the target is contacted on the first run.
 * Use a target that goes through gRPC even to this process's own server (for example {@code
 * grpc://127.0.0.1:port} when the server calls itself {@code grpc://localhost:port}), so that
 * {@code ConfigProto.operation_timeout_in_ms} bounds the first run too: TensorFlow serves its own
 * target through an in-process shortcut whose session creation waits for absent workers forever,
 * ignoring that timeout (measured: no error after 40 s with the shortcut, DeadlineExceeded after
 * 5.0 s through gRPC, for a 5 s timeout and a worker that never started).
 */
public final class RemoteSession {
  private RemoteSession() {}

  /**
   * A session of {@code graph} whose master is the server at {@code target}.
   *
   * @param target {@code grpc://host:port} of a running TensorFlow server
   * @param config the session's configuration (threads, graph options, timeouts)
   * @throws IllegalStateException if TensorFlow Java's internals cannot be reached (module path)
   */
  public static Session open(Graph graph, String target, ConfigProto config) {
    AutoCloseable reference = reference(graph);
    TF_Session nativeSession;
    try (PointerScope scope = new PointerScope()) {
      TF_Graph nativeGraph = nativeHandle(reference);
      TF_Status status = TF_Status.newStatus();
      TF_SessionOptions options = TF_SessionOptions.newSessionOptions();
      TF_SetTarget(options, target);
      BytePointer configBytes = new BytePointer(config.toByteArray());
      TF_SetConfig(options, configBytes, configBytes.capacity(), status);
      status.throwExceptionIfNotOK();
      nativeSession = TF_Session.newSession(nativeGraph, options, status);
      status.throwExceptionIfNotOK();
      // keep it beyond this pointer scope, as Session.allocate does; Session.close releases it
      nativeSession.retainReference();
    } finally {
      try {
        reference.close();
      } catch (Exception e) {
        throw new IllegalStateException("cannot release the graph reference", e);
      }
    }
    try {
      Constructor<Session> wrap =
          Session.class.getDeclaredConstructor(Graph.class, TF_Session.class);
      wrap.setAccessible(true);
      return wrap.newInstance(graph, nativeSession);
    } catch (InvocationTargetException e) {
      nativeSession.releaseReference();
      throw new IllegalStateException("cannot wrap the remote session", e.getCause());
    } catch (ReflectiveOperationException | RuntimeException e) {
      nativeSession.releaseReference();
      throw unreachable("Session(Graph, TF_Session)", e);
    }
  }

  /** {@code graph.ref()}: a reference that keeps the native graph alive while it is used. */
  private static AutoCloseable reference(Graph graph) {
    try {
      Method ref = Graph.class.getDeclaredMethod("ref");
      ref.setAccessible(true);
      return (AutoCloseable) ref.invoke(graph);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("the graph is closed", e.getCause());
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw unreachable("Graph.ref()", e);
    }
  }

  private static TF_Graph nativeHandle(AutoCloseable reference) {
    try {
      Method handle = reference.getClass().getDeclaredMethod("nativeHandle");
      handle.setAccessible(true);
      TF_Graph g = (TF_Graph) handle.invoke(reference);
      if (g == null || g.isNull()) {
        throw new IllegalStateException("the graph is closed");
      }
      return g;
    } catch (ReflectiveOperationException | RuntimeException e) {
      if (e instanceof IllegalStateException ise) {
        throw ise;
      }
      throw unreachable("Graph.Reference.nativeHandle()", e);
    }
  }

  private static IllegalStateException unreachable(String member, Exception e) {
    return new IllegalStateException(
        "cannot reach TensorFlow Java's "
            + member
            + " to open a remote session ("
            + e
            + "); this needs tensorflow-core-api 1.1.0 on the class path, or"
            + " --add-opens org.tensorflow/org.tensorflow=ALL-UNNAMED on the module path",
        e);
  }
}
