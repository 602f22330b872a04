import Logging
import NIOCore
import SwiftRPC

/// One raw TCP connection (SPEC §9) behind the frame decoder: each frame is a call through the
/// shared `Dispatcher`. Calls may run concurrently; answers go out in request order. With
/// tokens or JWT configured the first frame must be `auth`. Reading pauses while too many
/// answers are owed or the client is not reading them (a slow client costs bounded memory).
final class TCPCallHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Answers owed at once before reading pauses.
    static let maxInFlight = 256

    private enum Authentication {
        case notNeeded
        case required
        /// A JWT is being verified; frames that arrive meanwhile wait here.
        case verifying(waiting: [ByteBuffer])
        case done
    }

    private let dispatcher: Dispatcher
    private let policy: AccessPolicy
    private let idleTimeout: TimeAmount
    private let maxFrameBytes: Int
    private let logger: Logger
    private var framing = TCPFraming.lines
    private var authentication: Authentication
    /// `allowed_ips`' verdict on this peer, answered to its first frame.
    private var refusal: RPCError?

    /// Sequence numbers: the next request's, and the next answer to write.
    private var nextRequest = 0
    private var nextAnswer = 0
    /// Answers that are ready before the ones ahead of them.
    private var early: [Int: [UInt8]] = [:]
    private var closeAfterAnswer: Int?
    private var isReading = true
    private var isQuiescing = false
    private var lastRequestAt = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(dispatcher: Dispatcher, policy: AccessPolicy, idleTimeout: TimeAmount, maxFrameBytes: Int, logger: Logger) {
        self.dispatcher = dispatcher
        self.policy = policy
        self.idleTimeout = idleTimeout
        self.maxFrameBytes = maxFrameBytes
        self.logger = logger
        self.authentication = policy.requiresAuthentication ? .required : .notNeeded
    }

    /// Answers owed, counting frames that wait for a JWT's verdict.
    private var owed: Int {
        guard case .verifying(let waiting) = authentication else { return nextRequest - nextAnswer }
        return nextRequest - nextAnswer + waiting.count
    }

    func channelActive(context: ChannelHandlerContext) {
        refusal = policy.check(peer: context.channel.remoteAddress?.ipAddress)
        scheduleIdleCheck(context: context, at: .now() + idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let detected = event as? TCPFraming {
            framing = detected
        } else if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: answer what was asked, take nothing new.
            isQuiescing = true
            if owed == 0 { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard closeAfterAnswer == nil, !isQuiescing else { return }
        lastRequestAt = .now()
        if let refusal {
            fail(takeSequence(), refusal, context: context)
            return
        }
        switch authentication {
        case .notNeeded, .done:
            handle(frame, sequence: takeSequence(), context: context)
        case .required:
            authenticate(frame, sequence: takeSequence(), context: context)
        case .verifying(var waiting):
            waiting.append(frame)
            authentication = .verifying(waiting: waiting)
        }
        updateReading(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        updateReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case is TCPFrameTooLarge, is ByteToMessageDecoderError.PayloadTooLargeError:
            let message = "the frame is larger than the limit of \(maxFrameBytes) bytes; closing the connection"
            fail(takeSequence(), RPCError(.payloadTooLarge, message), context: context)
        default:
            context.close(promise: nil)
        }
    }

    private func takeSequence() -> Int {
        defer { nextRequest += 1 }
        return nextRequest
    }

    // MARK: - Calls

    private func handle(_ frame: ByteBuffer, sequence: Int, context: ChannelHandlerContext) {
        let request: TCPRequest
        do {
            request = try TCPRequest.decode(frame)
        } catch {
            answer(sequence, TCPAnswer.error(error.error, name: error.name, id: error.id), context: context)
            return
        }
        if request.name == "ping" {
            answer(sequence, TCPAnswer.result(request.params, name: "pong", id: request.id), context: context)
            return
        }
        let name = request.name
        let id = request.id
        switch dispatcher.call(named: name, request.call, on: context.eventLoop) {
        case .now(let outcome):
            answer(sequence, TCPAnswer.outcome(outcome, name: name, id: id), context: context)
        case .later(let future):
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { result in
                let bytes: [UInt8] =
                    switch result {
                    case .success(let outcome): TCPAnswer.outcome(outcome, name: name, id: id)
                    case .failure(let error): TCPAnswer.error(RPCError(.functionError, "internal error: \(error)"), name: name, id: id)
                    }
                self.answer(sequence, bytes, context: context.value)
                context.value.flush()
            }
        }
    }

    /// The first frame when authentication is on: `{"in": "auth", "params": {"token": "..."}}`.
    private func authenticate(_ frame: ByteBuffer, sequence: Int, context: ChannelHandlerContext) {
        let request = try? TCPRequest.decode(frame)
        guard let request, request.name == "auth", case .string(let token)? = request.params["token"] else {
            fail(sequence, RPCError(.unauthorized, "authenticate first: {\"in\": \"auth\", \"params\": {\"token\": \"...\"}}"), context: context)
            return
        }
        switch policy.check(token: token) {
        case .allowed:
            authentication = .done
            answer(sequence, TCPAnswer.result("ok", name: "auth", id: request.id), context: context)
        case .refused(let error):
            fail(sequence, error, context: context)
        case .verifyJWT(let jwt):
            guard let verifier = policy.jwt else { return fail(sequence, AccessPolicy.tokenRequired, context: context) }
            authentication = .verifying(waiting: [])
            let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.makeFutureWithTask { await verifier.verify(jwt) }.assumeIsolated().whenSuccess { refusal in
                let context = loopContext.value
                guard case .verifying(let waiting) = self.authentication else { return }
                if let refusal {
                    self.fail(sequence, refusal, context: context)
                    return
                }
                self.authentication = .done
                self.answer(sequence, TCPAnswer.result("ok", name: "auth", id: request.id), context: context)
                for frame in waiting {
                    self.handle(frame, sequence: self.takeSequence(), context: context)
                }
                context.flush()
                self.updateReading(context: context)
            }
        }
    }

    /// Answers `error` and closes the connection once that answer is out.
    private func fail(_ sequence: Int, _ error: RPCError, context: ChannelHandlerContext) {
        logger.debug("closing a TCP connection", metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "?")", "error": "\(error)"])
        closeAfterAnswer = sequence
        answer(sequence, TCPAnswer.error(error, name: nil, id: nil), context: context)
        context.flush()
    }

    // MARK: - Writing in order

    private func answer(_ sequence: Int, _ json: [UInt8], context: ChannelHandlerContext) {
        guard sequence == nextAnswer else {
            early[sequence] = json
            return
        }
        write(json, sequence: sequence, context: context)
        while let ready = early.removeValue(forKey: nextAnswer) {
            write(ready, sequence: nextAnswer, context: context)
        }
        if isQuiescing && owed == 0 { context.close(promise: nil) }
        updateReading(context: context)
    }

    private func write(_ json: [UInt8], sequence: Int, context: ChannelHandlerContext) {
        nextAnswer = sequence + 1
        guard context.channel.isActive else { return }
        let frame = wrapOutboundOut(framing.frame(json, allocator: context.channel.allocator))
        guard sequence == closeAfterAnswer else {
            context.write(frame, promise: nil)  // no future to allocate for the usual answer
            return
        }
        let channel = context.channel
        context.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Reads while few answers are owed and the client takes what is written.
    private func updateReading(context: ChannelHandlerContext) {
        let shouldRead = owed < Self.maxInFlight && context.channel.isWritable && closeAfterAnswer == nil
        guard shouldRead != isReading else { return }
        isReading = shouldRead
        context.channel.setOption(.autoRead, value: shouldRead).whenComplete { _ in }
        if shouldRead { context.read() }
    }

    // MARK: - Idle timeout

    /// A connection with no complete request for `idleTimeout` (and no answer owed) is closed.
    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            let context = loopContext.value
            let due = self.lastRequestAt + self.idleTimeout
            if self.owed == 0, due <= .now() {
                self.logger.debug("closing an idle TCP connection", metadata: ["peer": "\(context.channel.remoteAddress?.description ?? "?")"])
                context.close(promise: nil)
            } else {
                self.scheduleIdleCheck(context: context, at: max(due, .now() + .milliseconds(100)))
            }
        }
    }
}
