import NIOCore

/// One batch of commands written together, answered together. A batch is never split, so a
/// MULTI ... EXEC batch cannot be interleaved with another caller's commands.
struct RedisRequest {
    var commands: [[String]]
    var promise: EventLoopPromise<[RESPValue]>
    /// How long past the usual command timeout this batch may take (blocking commands).
    var extraTimeout: TimeAmount = .zero
}

/// Encodes batches, matches replies to them in FIFO order, and coalesces flushes: many
/// callers' writes within one event-loop tick leave in one `write` system call. A reply that
/// does not come within the timeout closes the connection (a FIFO stream cannot skip it).
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var promise: EventLoopPromise<[RESPValue]>
        var expected: Int
        var replies: [RESPValue]
        var deadline: NIODeadline
    }

    private let decoder = RESPDecoder()
    private var pending = CircularBuffer<Pending>()
    private var flushScheduled = false
    private var timeoutCheck: RepeatedTask?
    private let commandTimeout: TimeAmount
    /// Set on a subscriber connection: receives pub/sub messages, which answer no command.
    private let onMessage: (@Sendable (_ channel: String, _ message: String) -> Void)?

    init(commandTimeout: TimeAmount, onMessage: (@Sendable (String, String) -> Void)? = nil) {
        self.commandTimeout = commandTimeout
        self.onMessage = onMessage
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        let loopBoundSelf = NIOLoopBound(self, eventLoop: context.eventLoop)
        timeoutCheck = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { _ in
            loopBoundSelf.value.failIfOverdue(context: loopBoundContext.value)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timeoutCheck?.cancel()
        failAll(RedisClientError(.connectionClosed, "the Redis connection closed"))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard context.channel.isActive else {
            request.promise.fail(RedisClientError(.connectionClosed, "the Redis connection is closed"))
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: request.commands.reduce(0) { $0 + RESPEncoder.size(of: $1) })
        for command in request.commands { RESPEncoder.encode(command, into: &buffer) }
        pending.append(
            Pending(
                promise: request.promise, expected: request.commands.count, replies: [],
                deadline: .now() + commandTimeout + request.extraTimeout))
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        // Runs after the writes already queued on this loop, so they share one flush.
        context.eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            context.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try decoder.feed(unwrapInboundIn(data))
            while let reply = try decoder.next() {
                if let onMessage, case .array(let parts) = reply, parts.count == 3, parts[0].string == "message" {
                    onMessage(parts[1].string ?? "", parts[2].string ?? "")
                    continue
                }
                guard !pending.isEmpty else {
                    throw RedisClientError(.protocolError, "Redis sent a reply nobody asked for")
                }
                pending[pending.startIndex].replies.append(reply)
                if pending[pending.startIndex].replies.count == pending[pending.startIndex].expected {
                    let done = pending.removeFirst()
                    done.promise.succeed(done.replies)
                }
            }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisClientError(.connectionClosed, "the Redis connection closed with commands in flight"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(RedisClientError(.connectionClosed, "the Redis connection failed: \(error)"))
        context.close(promise: nil)
    }

    private func failIfOverdue(context: ChannelHandlerContext) {
        guard let oldest = pending.first, oldest.deadline < .now() else { return }
        failAll(RedisClientError(.timeout, "Redis did not answer within \(commandTimeout.nanoseconds / 1_000_000) ms"))
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let request = pending.popFirst() {
            request.promise.fail(error)
        }
    }
}
