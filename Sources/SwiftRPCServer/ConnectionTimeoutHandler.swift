import NIOCore
import SwiftRPC

/// Per-connection timers, in front of the HTTP decoder: a kept-alive connection with no
/// request for `idleTimeout` is closed; a request that has not fully arrived `requestTimeout`
/// after its first byte (a slow or stalled client) gets 408 and the connection is closed.
/// Requests only note timestamps; one timer per connection checks them and re-arms itself
/// at the next deadline, so the hot path schedules nothing.
final class ConnectionTimeoutHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Told by the HTTP handler of the same connection when a request has fully arrived and
    /// when its answer is out.
    final class Events {
        var requestArrived: () -> Void = {}
        var answerWritten: () -> Void = {}
    }

    private let idleTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    let events = Events()
    /// When the first byte of the request now arriving came; `nil` between requests.
    private var requestStartedAt: NIODeadline?
    /// Since when the connection has had nothing to do; `nil` while a request is in hand.
    private var idleSince: NIODeadline?
    private var check: Scheduled<Void>?

    init(idleTimeout: TimeAmount, requestTimeout: TimeAmount) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        events.requestArrived = {
            loopBound.value.requestStartedAt = nil
            loopBound.value.idleSince = nil
        }
        events.answerWritten = {
            loopBound.value.idleSince = .now()
        }
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Bytes while idle start a request; bytes while one is answered (pipelining) wait their turn.
        if requestStartedAt == nil && idleSince != nil { requestStartedAt = .now() }
        idleSince = nil
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
    }

    private func start(context: ChannelHandlerContext) {
        guard check == nil else { return }
        idleSince = .now()
        arm(at: .now() + min(idleTimeout, requestTimeout), context: context)
    }

    private func arm(at deadline: NIODeadline, context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.fire(context: context)
        }
    }

    private func fire(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if let started = requestStartedAt, now - started >= requestTimeout {
            refuseSlowRequest(context: context)
            return
        }
        if let idle = idleSince, now - idle >= idleTimeout {
            context.close(promise: nil)
            return
        }
        var next = now + min(idleTimeout, requestTimeout)
        if let started = requestStartedAt { next = min(next, started + requestTimeout) }
        if let idle = idleSince { next = min(next, idle + idleTimeout) }
        arm(at: next, context: context)
    }

    private func refuseSlowRequest(context: ChannelHandlerContext) {
        var body: [UInt8] = []
        JSONWriter.write(RPCError(.requestTimeout, "the request did not arrive in time").jsonValue, into: &body)
        var buffer = context.channel.allocator.buffer(capacity: 128 + body.count)
        buffer.writeString("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
        buffer.writeBytes(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }
}
