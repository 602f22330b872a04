import NIOCore
import NIOHTTP1
import SwiftRPC

/// One HTTP/1.1 connection: collects a request's body (refusing it past the limit while it
/// streams in), hands the request to the router and writes the answer.
///
/// Pipelined requests are answered in order: what arrives while an answer is owed waits here,
/// and reading stops until it has been answered. Unlike NIO's `HTTPServerPipelineHandler`,
/// reading stops only once a client has actually sent ahead: a client that waits for each
/// answer (nearly all of them) costs no `epoll_ctl` pair per request.
final class HTTPHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        /// The connection is closing after a 413 or malformed HTTP: everything still coming is dropped.
        case closing
    }

    /// A connection refused with 413 keeps reading (and dropping) the rest of the body after its
    /// answer, so that the client, still sending, reads the 413 instead of a reset; it closes
    /// once nothing has come for this long (or at the request timeout, which still applies).
    static let lingerTimeout = TimeAmount.seconds(2)
    private var lastReadWhileClosing = NIODeadline.now()

    private let router: RPCRouter
    private let maxBodyBytes: Int
    private let connectionEvents: ConnectionTimeoutHandler.Events
    private var state = State.idle

    /// A whole request has arrived and its answer has not been written yet.
    private var answerOwed = false
    /// What a pipelining client sent while an answer was owed, in order.
    private var waiting = CircularBuffer<Inbound>()
    /// A read the channel asked for while requests were waiting; issued once they are answered.
    private var readHeld = false
    /// Answering what is waiting (an answer written meanwhile must not start another round).
    private var answeringWaiting = false
    /// The server is shutting down: the answer owed is the last, then the connection closes.
    private var quiescing = false

    private enum Inbound {
        case part(HTTPServerRequestPart)
        case malformed(HTTPParserError)
    }

    init(router: RPCRouter, maxBodyBytes: Int, connectionEvents: ConnectionTimeoutHandler.Events) {
        self.router = router
        self.maxBodyBytes = maxBodyBytes
        self.connectionEvents = connectionEvents
    }

    /// Malformed HTTP (bad request line, headers over llhttp's 80 KiB, bad chunking): a JSON
    /// 400, then the connection is closed, as the byte stream can no longer be trusted.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        if answerOwed || !waiting.isEmpty {
            waiting.append(.malformed(error))  // answered in its turn
        } else {
            refuseMalformed(error, context: context)
        }
    }

    private func refuseMalformed(_ error: HTTPParserError, context: ChannelHandlerContext) {
        state = .closing
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
        write(.error(.badRequest("malformed HTTP request: \(error)")), for: head, context: context, close: .now)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if answerOwed || !waiting.isEmpty {
            waiting.append(.part(part))
        } else {
            receive(part, context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty {
            context.read()
        } else {
            readHeld = true  // the client sent ahead: it waits until its requests are answered
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        quiescing = true
        waiting.removeAll()
        guard !answerOwed else { return }  // closes once that answer is written
        if case .receiving = state { return }  // closes once that request is answered
        context.close(promise: nil)
    }

    /// The owed answer has been written: the requests that waited for it are taken in turn.
    private func answered(context: ChannelHandlerContext) {
        answerOwed = false
        guard !answeringWaiting else { return }
        answeringWaiting = true
        while !answerOwed, let next = waiting.popFirst() {
            switch next {
            case .part(let part): receive(part, context: context)
            case .malformed(let error): refuseMalformed(error, context: context)
            }
        }
        answeringWaiting = false
        if readHeld && waiting.isEmpty {
            readHeld = false
            context.read()
        }
    }

    private func receive(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch (part, state) {
        case (_, .closing):
            lastReadWhileClosing = .now()
        case (.head(let head), _):
            if let length = head.headers.first(name: "content-length").flatMap(Int.init), length > maxBodyBytes {
                refuseTooLarge(context: context, head: head)
                return
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: 0))
        case (.body(var chunk), .receiving(let head, var body)):
            guard body.readableBytes + chunk.readableBytes <= maxBodyBytes else {
                refuseTooLarge(context: context, head: head)
                return
            }
            if body.readableBytes == 0 {
                body = chunk  // the usual single-chunk body: no copy
            } else {
                state = .idle  // drop our reference so `body` is uniquely owned while it grows
                body.writeBuffer(&chunk)
            }
            state = .receiving(head, body)
        case (.end, .receiving(let head, let body)):
            state = .idle
            connectionEvents.requestArrived()
            let request = RPCRequest(method: head.method, uri: head.uri, headers: head.headers, body: body)
            switch router.respond(to: request, remoteAddress: context.channel.remoteAddress, on: context.eventLoop) {
            case .now(let response):
                write(response, for: head, context: context)
            case .later(let future):
                answerOwed = true
                future.assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let response): self.write(response, for: head, context: context)
                    case .failure(let error):
                        self.write(.error(RPCError(.functionError, "internal error: \(error)")), for: head, context: context)
                    }
                }
            }
        case (.body, _), (.end, .idle):
            break
        }
    }

    private func refuseTooLarge(context: ChannelHandlerContext, head: HTTPRequestHead) {
        state = .closing
        let error = RPCError(.payloadTooLarge, "the body is larger than the limit of \(maxBodyBytes) bytes")
        write(.error(error), for: head, context: context, close: .afterLingering)
    }

    /// How a connection ends after an answer that closes it.
    private enum Close {
        case now
        /// Shut the write side, then drop what still comes until the client closes or goes
        /// quiet for `lingerTimeout` (closing at once, with unread bytes, would make the
        /// kernel send a reset that can destroy the answer before the client reads it).
        case afterLingering
    }

    private func write(_ response: RPCResponse, for request: HTTPRequestHead, context: ChannelHandlerContext, close: Close? = nil) {
        let close = close ?? (quiescing ? .now : nil)
        let keepAlive = request.isKeepAlive && close == nil
        var headers = HTTPHeaders()
        headers.reserveCapacity(4 + response.headers.count)
        headers.add(name: "content-type", value: response.contentType)
        headers.add(name: "content-length", value: String(response.body.count))
        if !keepAlive { headers.add(name: "connection", value: "close") }
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        connectionEvents.answerWritten()
        guard !keepAlive else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)  // no future to allocate for the usual answer
            answered(context: context)
            return
        }
        waiting.removeAll()
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated()
        guard close == .afterLingering else {
            written.whenComplete { _ in context.close(promise: nil) }
            return
        }
        written.whenComplete { _ in
            context.close(mode: .output).assumeIsolated().whenFailure { _ in context.close(promise: nil) }
            self.lastReadWhileClosing = .now()
            self.closeWhenQuiet(context: context)
        }
    }

    private func closeWhenQuiet(context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(deadline: lastReadWhileClosing + Self.lingerTimeout) {
            guard context.channel.isActive else { return }
            if .now() - self.lastReadWhileClosing >= Self.lingerTimeout {
                context.close(promise: nil)
            } else {
                self.closeWhenQuiet(context: context)
            }
        }
    }
}
