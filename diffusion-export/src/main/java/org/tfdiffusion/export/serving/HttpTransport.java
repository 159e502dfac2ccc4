package org.tfdiffusion.export.serving;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The HTTP/1.1 layer of the model server, on Netty: it reads requests without holding a thread
 * while a client is slow, enforces {@link HttpLimits} (connections, header, body and idle timeouts,
 * header and body sizes, the memory of bodies in flight), answers every protocol error itself in
 * TensorFlow Serving's JSON shape ({@code {"error": "..."}}: 400, 408, 413, 414, 429, 431, 503),
 * and hands each complete request to a {@link Dispatcher} as an {@link HttpCall}. When a client
 * closes its connection while its request is being served, the call's {@link ClientConnection} says
 * so.
 *
 * <p>A connection carries one request at a time: a request pipelined behind one being served waits,
 * and reading from that connection pauses until the answer is written.
 */
final class HttpTransport implements AutoCloseable {
  /** Gets each complete request, on an I/O thread: it must hand the work to another thread. */
  interface Dispatcher {
    void dispatch(HttpCall call);
  }

  /** After an error answer that closes the connection, how long unread input is drained. */
  private static final Duration LINGER = Duration.ofSeconds(2);

  /** The largest piece of a body the decoder hands over at once. */
  private static final int MAX_CHUNK_BYTES = 64 << 10;

  /** The first buffer of a body of unknown length (chunked). */
  private static final int FIRST_CHUNKED_BUFFER = 8 << 10;

  /**
   * Connections the operating system completes before the server accepts them: enough that a burst
   * is accepted in the order it came, and the connection limit answers it.
   */
  private static final int ACCEPT_BACKLOG = 1024;

  /** I/O threads: parsing HTTP is cheap, the work runs on the dispatcher's threads. */
  private static final int IO_THREADS = Math.min(2, Runtime.getRuntime().availableProcessors());

  private final HttpLimits limits;
  private final Dispatcher dispatcher;
  private final ServerLog log;
  private final EventLoopGroup acceptor;
  private final EventLoopGroup io;
  private final ChannelGroup channels = new DefaultChannelGroup(GlobalEventExecutor.INSTANCE);
  private final AtomicInteger open = new AtomicInteger();
  private final AtomicLong bodyBytesInFlight = new AtomicLong();
  private final Channel listener;

  private HttpTransport(
      String host, int port, HttpLimits limits, Dispatcher dispatcher, ServerLog log) {
    this.limits = limits;
    this.dispatcher = dispatcher;
    this.log = log;
    this.acceptor =
        new MultiThreadIoEventLoopGroup(
            1, new DefaultThreadFactory("serve-accept", true), NioIoHandler.newFactory());
    this.io =
        new MultiThreadIoEventLoopGroup(
            IO_THREADS, new DefaultThreadFactory("serve-io", true), NioIoHandler.newFactory());
    ServerBootstrap bootstrap =
        new ServerBootstrap()
            .group(acceptor, io)
            .channel(NioServerSocketChannel.class)
            .option(ChannelOption.SO_BACKLOG, ACCEPT_BACKLOG)
            .childOption(ChannelOption.TCP_NODELAY, true)
            .childHandler(
                new ChannelInitializer<SocketChannel>() {
                  @Override
                  protected void initChannel(SocketChannel ch) {
                    setUp(ch);
                  }
                });
    ChannelFuture bound = bootstrap.bind(host, port).awaitUninterruptibly();
    if (!bound.isSuccess()) {
      shutDownThreads();
      Throwable cause = bound.cause();
      throw new UncheckedIOException(
          "cannot listen on " + host + ":" + port + ": " + cause.getMessage(),
          cause instanceof IOException io ? io : new IOException(cause));
    }
    this.listener = bound.channel();
  }

  /**
   * Listens on {@code host:port} (0: a free port).
   *
   * @throws UncheckedIOException when the address cannot be bound
   */
  static HttpTransport bind(
      String host, int port, HttpLimits limits, Dispatcher dispatcher, ServerLog log) {
    return new HttpTransport(host, port, limits, dispatcher, log);
  }

  /** The port it listens on. */
  int port() {
    return ((InetSocketAddress) listener.localAddress()).getPort();
  }

  /** Connections open now. */
  int openConnections() {
    return open.get();
  }

  /** Bytes of request bodies held now (being received, or received and being served). */
  long bodyBytesInFlight() {
    return bodyBytesInFlight.get();
  }

  /** Stops listening (new connections are refused by the operating system). */
  void stopAccepting() {
    listener.close().awaitUninterruptibly();
  }

  /** Stops listening, closes every connection and stops the I/O threads. */
  @Override
  public void close() {
    stopAccepting();
    channels.close().awaitUninterruptibly();
    shutDownThreads();
  }

  private void shutDownThreads() {
    acceptor.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
    io.shutdownGracefully(0, 0, TimeUnit.MILLISECONDS);
  }

  private void setUp(SocketChannel ch) {
    channels.add(ch);
    int n = open.incrementAndGet();
    ch.closeFuture().addListener(f -> open.decrementAndGet());
    if (n > limits.maxConnections()) {
      ch.pipeline().addLast(new Refusal(n));
      return;
    }
    Connection connection = new Connection();
    ch.pipeline()
        .addLast("first-byte", connection.firstByte)
        .addLast(
            "http",
            new HttpServerCodec(
                new HttpDecoderConfig()
                    .setMaxInitialLineLength(limits.maxHeaderBytes())
                    .setMaxHeaderSize(limits.maxHeaderBytes())
                    .setMaxChunkSize(MAX_CHUNK_BYTES)))
        .addLast("requests", connection);
  }

  /** A JSON error answer with {@code Connection: close}. */
  private static FullHttpResponse errorResponse(ErrorCode code, String message) {
    FullHttpResponse r =
        new DefaultFullHttpResponse(
            HttpVersion.HTTP_1_1,
            HttpResponseStatus.valueOf(code.httpStatus()),
            Unpooled.wrappedBuffer(RestServer.error(message)));
    r.headers()
        .set(HttpHeaderNames.CONTENT_TYPE, HttpReply.JSON)
        .setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes())
        .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
    return r;
  }

  /** Closes a connection once the answer is out, draining (and dropping) unread input a while. */
  private static void lingerThenClose(Channel ch) {
    if (!ch.isActive()) {
      return;
    }
    ((SocketChannel) ch)
        .shutdownOutput()
        .addListener(
            f ->
                ch.eventLoop()
                    .schedule(() -> ch.close(), LINGER.toMillis(), TimeUnit.MILLISECONDS));
  }

  /** A connection over {@link HttpLimits#maxConnections()}: 503 and close, nothing read. */
  private final class Refusal extends ChannelInboundHandlerAdapter {
    private final int count;

    Refusal(int count) {
      this.count = count;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      String message =
          String.format(
              "the server has %d connections open, its limit (serve --max-connections); retry"
                  + " later",
              count - 1);
      byte[] json = RestServer.error(message);
      String head =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
              + HttpReply.JSON
              + "\r\nContent-Length: "
              + json.length
              + "\r\nConnection: close\r\n\r\n";
      ByteBuf out = Unpooled.buffer(head.length() + json.length);
      out.writeBytes(head.getBytes(StandardCharsets.ISO_8859_1)).writeBytes(json);
      ctx.writeAndFlush(out).addListener(f -> lingerThenClose(ctx.channel()));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ReferenceCountUtil.release(msg);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  /** Where a connection is in the life of its current request. */
  private enum Phase {
    /** No request in progress: waiting for one (idle timeout). */
    IDLE,
    /** A request's first bytes arrived, its headers have not (header timeout). */
    HEADERS,
    /** The headers arrived, the body is coming (body timeout). */
    BODY,
    /** The request is complete and being served; pipelined input waits. */
    SERVING,
    /** An error answer was sent; the connection closes, input is dropped. */
    CLOSING
  }

  /** Why a connection's timer fired. */
  private enum Timeout {
    IDLE,
    HEADERS,
    BODY,
    WRITE
  }

  /** One connection's requests, one at a time; runs on the connection's I/O thread. */
  private final class Connection extends ChannelInboundHandlerAdapter {
    /** Sees raw bytes before the HTTP decoder: the first byte of a request starts its clock. */
    final ChannelInboundHandlerAdapter firstByte =
        new ChannelInboundHandlerAdapter() {
          @Override
          public void channelRead(ChannelHandlerContext raw, Object msg) {
            if (phase == Phase.IDLE && context != null) {
              phase = Phase.HEADERS;
              arm(context, Timeout.HEADERS, limits.headerTimeout());
            }
            raw.fireChannelRead(msg);
          }
        };

    /** This handler's context: what it writes goes through the HTTP encoder. */
    private ChannelHandlerContext context;

    private Phase phase = Phase.IDLE;
    private ScheduledFuture<?> timer;
    private HttpRequest request;
    private boolean keepAlive;
    private boolean http10;
    private byte[] body;
    private int bodyLength;
    private long reserved;
    private ClientConnection client;
    private final ArrayDeque<Object> waiting = new ArrayDeque<>();

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
      context = ctx;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
      arm(ctx, Timeout.IDLE, limits.idleTimeout());
      ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      if (phase == Phase.CLOSING) {
        ReferenceCountUtil.release(msg);
        return;
      }
      if (phase == Phase.SERVING) {
        waiting.add(msg);
        ctx.channel().config().setAutoRead(false);
        return;
      }
      try {
        read(ctx, (HttpObject) msg);
      } finally {
        ReferenceCountUtil.release(msg);
      }
    }

    private void read(ChannelHandlerContext ctx, HttpObject msg) {
      DecoderResult result = msg.decoderResult();
      if (result.isFailure()) {
        refuseMalformed(ctx, result.cause());
        return;
      }
      if (msg instanceof HttpRequest r) {
        start(ctx, r);
      }
      if (phase == Phase.BODY && msg instanceof HttpContent c) {
        append(ctx, c);
      }
    }

    private void start(ChannelHandlerContext ctx, HttpRequest r) {
      request = r;
      phase = Phase.BODY;
      arm(ctx, Timeout.BODY, limits.bodyTimeout());
      keepAlive = HttpUtil.isKeepAlive(r);
      http10 = r.protocolVersion().equals(HttpVersion.HTTP_1_0);
      long length;
      try {
        length = HttpUtil.getContentLength(r, -1L);
      } catch (NumberFormatException e) {
        refuse(ctx, ErrorCode.INVALID_ARGUMENT, "malformed HTTP request: bad Content-Length");
        return;
      }
      if (length > limits.maxBodyBytes()) {
        refuse(
            ctx,
            ErrorCode.PAYLOAD_TOO_LARGE,
            String.format(
                "the request body is %d bytes, over this server's limit of %d bytes (serve"
                    + " --max-body-bytes); send fewer rows per request",
                length, limits.maxBodyBytes()));
        return;
      }
      if (length > 0 && !reserve(ctx, length)) {
        return;
      }
      boolean chunked = HttpUtil.isTransferEncodingChunked(r);
      body = new byte[length >= 0 ? (int) length : chunked ? FIRST_CHUNKED_BUFFER : 0];
      bodyLength = 0;
      if (HttpUtil.is100ContinueExpected(r)) {
        ctx.writeAndFlush(
            new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE));
      }
    }

    private void append(ChannelHandlerContext ctx, HttpContent c) {
      ByteBuf data = c.content();
      int n = data.readableBytes();
      long total = (long) bodyLength + n;
      if (total > limits.maxBodyBytes()) {
        refuse(
            ctx,
            ErrorCode.PAYLOAD_TOO_LARGE,
            String.format(
                "the request body is more than %d bytes, this server's limit (serve"
                    + " --max-body-bytes); send fewer rows per request",
                limits.maxBodyBytes()));
        return;
      }
      if (total > body.length) {
        // a chunked body: grow the buffer, within the memory of bodies in flight
        int capacity = (int) Math.min(limits.maxBodyBytes(), Math.max(total, 2L * body.length));
        if (!reserve(ctx, capacity)) {
          return;
        }
        body = Arrays.copyOf(body, capacity);
      }
      data.readBytes(body, bodyLength, n);
      bodyLength += n;
      if (c instanceof LastHttpContent) {
        dispatch(ctx);
      }
    }

    /**
     * Reserves memory for this request's body, {@code bytes} in all; false (and a 429 sent) when
     * the bodies in flight would go over their limit.
     */
    private boolean reserve(ChannelHandlerContext ctx, long bytes) {
      long more = bytes - reserved;
      if (more <= 0) {
        return true;
      }
      long now = bodyBytesInFlight.addAndGet(more);
      if (now > limits.maxBodyBytesInFlight()) {
        bodyBytesInFlight.addAndGet(-more);
        refuse(
            ctx,
            ErrorCode.RESOURCE_EXHAUSTED,
            String.format(
                "the server is busy receiving other requests (%d bytes of request bodies at once"
                    + " at most, serve --max-body-bytes-in-flight); retry later",
                limits.maxBodyBytesInFlight()));
        return false;
      }
      reserved += more;
      return true;
    }

    private void unreserve() {
      if (reserved > 0) {
        bodyBytesInFlight.addAndGet(-reserved);
        reserved = 0;
      }
    }

    private void dispatch(ChannelHandlerContext ctx) {
      disarm();
      phase = Phase.SERVING;
      byte[] bytes = bodyLength == body.length ? body : Arrays.copyOf(body, bodyLength);
      body = null;
      client = new ClientConnection();
      HttpCall call =
          new HttpCall(
              request.method().name(),
              rawPath(request.uri()),
              bytes,
              client,
              reply -> ctx.executor().execute(() -> answer(ctx, reply)));
      request = null;
      dispatcher.dispatch(call);
    }

    private void answer(ChannelHandlerContext ctx, HttpReply reply) {
      if (!ctx.channel().isActive() || phase != Phase.SERVING) {
        return;
      }
      FullHttpResponse r =
          new DefaultFullHttpResponse(
              HttpVersion.HTTP_1_1,
              HttpResponseStatus.valueOf(reply.status()),
              Unpooled.wrappedBuffer(reply.body()));
      reply.headers().forEach((k, v) -> r.headers().set(k, v));
      r.headers()
          .set(HttpHeaderNames.CONTENT_TYPE, reply.contentType())
          .setInt(HttpHeaderNames.CONTENT_LENGTH, reply.body().length);
      if (!keepAlive) {
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
      } else if (http10) {
        r.headers().set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
      }
      // the call is done with the body: release its memory before the client can see the answer
      unreserve();
      arm(ctx, Timeout.WRITE, limits.idleTimeout());
      ctx.writeAndFlush(r).addListener((ChannelFutureListener) f -> written(ctx, f));
    }

    private void written(ChannelHandlerContext ctx, ChannelFuture f) {
      client = null;
      if (!f.isSuccess() || !keepAlive) {
        disarm();
        ctx.close();
        return;
      }
      phase = Phase.IDLE;
      arm(ctx, Timeout.IDLE, limits.idleTimeout());
      while (phase != Phase.SERVING && phase != Phase.CLOSING && !waiting.isEmpty()) {
        Object next = waiting.poll();
        if (phase == Phase.IDLE) {
          phase = Phase.HEADERS;
          arm(ctx, Timeout.HEADERS, limits.headerTimeout());
        }
        try {
          read(ctx, (HttpObject) next);
        } finally {
          ReferenceCountUtil.release(next);
        }
      }
      if (phase != Phase.SERVING) {
        ctx.channel().config().setAutoRead(true);
      }
    }

    private void refuseMalformed(ChannelHandlerContext ctx, Throwable cause) {
      if (cause instanceof TooLongHttpLineException) {
        refuse(
            ctx,
            ErrorCode.URI_TOO_LONG,
            String.format(
                "the request line is over this server's limit of %d bytes (serve"
                    + " --max-header-bytes)",
                limits.maxHeaderBytes()));
      } else if (cause instanceof TooLongHttpHeaderException) {
        refuse(
            ctx,
            ErrorCode.HEADERS_TOO_LARGE,
            String.format(
                "the request headers are over this server's limit of %d bytes (serve"
                    + " --max-header-bytes)",
                limits.maxHeaderBytes()));
      } else {
        String why =
            cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        refuse(ctx, ErrorCode.INVALID_ARGUMENT, "malformed HTTP request: " + why);
      }
    }

    /** Answers an error in TensorFlow Serving's shape and closes the connection. */
    private void refuse(ChannelHandlerContext ctx, ErrorCode code, String message) {
      if (phase == Phase.CLOSING) {
        return;
      }
      phase = Phase.CLOSING;
      disarm();
      unreserve();
      body = null;
      request = null;
      ctx.channel().config().setAutoRead(true);
      ctx.writeAndFlush(errorResponse(code, message))
          .addListener(f -> lingerThenClose(ctx.channel()));
    }

    private void arm(ChannelHandlerContext ctx, Timeout why, Duration after) {
      disarm();
      timer =
          ctx.executor().schedule(() -> expired(ctx, why), after.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void disarm() {
      if (timer != null) {
        timer.cancel(false);
        timer = null;
      }
    }

    private void expired(ChannelHandlerContext ctx, Timeout why) {
      timer = null;
      switch (why) {
        case IDLE, WRITE -> ctx.close();
        case HEADERS ->
            refuse(
                ctx,
                ErrorCode.REQUEST_TIMEOUT,
                "the request headers did not arrive within "
                    + Durations.seconds(limits.headerTimeout())
                    + " s (serve --header-timeout)");
        case BODY ->
            refuse(
                ctx,
                ErrorCode.REQUEST_TIMEOUT,
                "the request body did not arrive within "
                    + Durations.seconds(limits.bodyTimeout())
                    + " s of its headers (serve --body-timeout)");
      }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
      disarm();
      unreserve();
      body = null;
      waiting.forEach(ReferenceCountUtil::release);
      waiting.clear();
      if (client != null) {
        client.markGone();
      }
      ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      if (!(cause instanceof IOException)) {
        log.error("HTTP connection " + ctx.channel().remoteAddress() + " failed", cause);
      }
      ctx.close();
    }
  }

  /** The path of a request target, still percent-encoded: no query, no scheme or authority. */
  static String rawPath(String target) {
    String t = target;
    int scheme = t.indexOf("://");
    if (scheme > 0 && t.indexOf('/') > scheme) {
      int slash = t.indexOf('/', scheme + 3);
      t = slash < 0 ? "/" : t.substring(slash);
    }
    int end = t.length();
    for (char c : new char[] {'?', '#'}) {
      int i = t.indexOf(c);
      if (i >= 0) {
        end = Math.min(end, i);
      }
    }
    return t.substring(0, end);
  }
}
