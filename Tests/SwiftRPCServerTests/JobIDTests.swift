import Foundation
import Testing

@testable import SwiftRPCServer

@Suite("Job ids")
struct JobIDTests {
    @Test func aJobIDIsARandomVersion4UUIDInLowercase() {
        let ids = (0..<2_000).map { _ in makeJobID() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let characters = Array(id)
            #expect(characters.count == 36)
            #expect(UUID(uuidString: id) != nil, "\(id) is not a UUID")
            #expect(id == id.lowercased())
            #expect(characters[14] == "4", "\(id): version")
            #expect("89ab".contains(characters[19]), "\(id): variant")
        }
        // Every hex digit outside the fixed ones takes all 16 values over 2,000 ids.
        let free = (0..<36).filter { ![8, 13, 14, 18, 19, 23].contains($0) }
        for position in free {
            #expect(Set(ids.map { Array($0)[position] }).count == 16, "position \(position) is not random")
        }
    }
}
