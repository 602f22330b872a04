import NIOCore
import Redis
import Synchronization

/// Gathers the calls made on each event loop during one tick, and hands each loop's gathered
/// calls to `send` once the tick's I/O is done, in order and in slices of at most `limit`.
/// Under load one script call then carries many jobs (its promise, reply and Redis's call
/// overhead are shared); a call made alone waits for nothing but the rest of its own tick.
final class TickBatches<Item: Sendable>: Sendable {
    private let pending = Mutex<[ObjectIdentifier: [Item]]>([:])
    /// Most items in one slice, so that Redis is never held up long by one script call.
    private let limit: Int
    private let send: @Sendable (ArraySlice<Item>, any EventLoop) -> Void

    init(limit: Int, send: @escaping @Sendable (ArraySlice<Item>, any EventLoop) -> Void) {
        self.limit = limit
        self.send = send
    }

    func add(_ item: Item, on eventLoop: any EventLoop) {
        let loop = ObjectIdentifier(eventLoop)
        let startsTheBatch = pending.withLock { batches in
            batches[loop, default: []].append(item)
            return batches[loop]?.count == 1
        }
        if startsTheBatch {
            eventLoop.execute {
                let items = self.pending.withLock { $0.removeValue(forKey: loop) } ?? []
                for start in stride(from: 0, to: items.count, by: self.limit) {
                    self.send(items[start..<min(start + self.limit, items.count)], eventLoop)
                }
            }
        }
    }
}

extension RESPValue {
    /// Item `index`'s part of a batch script's reply (an array with a part per item). A part
    /// {-1, error} (that item's write failed) is thrown as `.serverError`.
    func batchPart(_ index: Int, of script: String) throws(RedisClientError) -> RESPValue {
        guard let parts = array, index < parts.count else {
            throw RedisClientError(.unexpectedReply, "the \(script) script answered \(self) for \(index + 1) or more items")
        }
        if case .array(let failed) = parts[index], failed.count == 2, failed[0].int == -1 {
            throw RedisClientError(.serverError, failed[1].string ?? "the \(script) failed")
        }
        return parts[index]
    }
}
