import type { Collection } from 'mongodb';
import type { ContentDoc } from '../collections.js';

/** Messages admins saved with /save; users get copies through their links. */
export class ContentsRepository {
  constructor(private readonly contents: Collection<ContentDoc>) {}

  async insert(doc: ContentDoc): Promise<void> {
    await this.contents.insertOne(doc);
  }

  find(contentId: string): Promise<ContentDoc | null> {
    return this.contents.findOne({ _id: contentId });
  }
}
